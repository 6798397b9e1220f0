"""Fixtures for the transformers bridge: a tiny GPT-2 built in code and synthetic tokens."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

VOCAB = 64


class CountingTokens:
    """`n` sequences that count up modulo the vocabulary (easy to learn), as dicts."""

    def __init__(self, n: int = 64, seq_len: int = 16, seed: int = 0) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, VOCAB, (n, 1), generator=g)
        self.ids = (starts + torch.arange(seq_len)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def build_gpt2(seed: int = 0):
    """A one-layer GPT-2 from a config (no download), with weights fixed by `seed`."""
    import torch

    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        n_layer=1, n_head=2, n_embd=32, vocab_size=VOCAB, n_positions=32, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config)


@pytest.fixture
def tokens():
    """Synthetic counting sequences."""
    return CountingTokens()


@pytest.fixture
def make_tokens():
    """The synthetic dataset class, for a second dataset (evaluation)."""
    return CountingTokens


@pytest.fixture
def make_gpt2():
    """A function building the tiny GPT-2 (equal weights for equal seeds)."""
    return build_gpt2


@pytest.fixture
def hf_args(tmp_path):
    """CPU TrainingArguments for five quick steps, writing into the test's directory."""
    return transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to="none",
        max_steps=5,
        logging_steps=1,
        learning_rate=1e-2,
        per_device_train_batch_size=8,
        save_strategy="no",
        disable_tqdm=True,
    )
