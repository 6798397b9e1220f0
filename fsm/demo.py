"""Tiny models and synthetic data built in code: the embedded default of the CLI, and
what the examples and tests train. Nothing is downloaded.

    from fsm.demo import TinyMLP, SyntheticRegression
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = [
    "SyntheticRegression",
    "SyntheticTokens",
    "TinyLMConfig",
    "TinyMLP",
    "TinyTransformerLM",
    "demo_inputs",
]


class TinyMLP(nn.Module):
    """A two-layer perceptron for regression; its forward takes ``labels`` and returns a loss."""

    def __init__(self, in_features: int = 8, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        out = self.net(x).squeeze(-1)
        loss = nn.functional.mse_loss(out, labels) if labels is not None else None
        return {"loss": loss, "logits": out}


@dataclass
class TinyLMConfig:
    """The config of `TinyTransformerLM`; like a transformers config, it has `use_cache`."""

    vocab_size: int = 32
    hidden_size: int = 32
    num_heads: int = 2
    num_layers: int = 1
    max_positions: int = 32
    use_cache: bool = True


class TinyTransformerLM(nn.Module):
    """A one-layer causal transformer language model, shaped like a transformers model:
    ``forward(input_ids, labels=None, **kwargs)`` returns ``{"loss", "logits"}`` and the
    extra keyword arguments (``num_items_in_batch``) reach the loss."""

    def __init__(self, config: TinyLMConfig | None = None) -> None:
        super().__init__()
        self.config = config or TinyLMConfig()
        c = self.config
        self.embed = nn.Embedding(c.vocab_size, c.hidden_size)
        self.positions = nn.Embedding(c.max_positions, c.hidden_size)
        layer = nn.TransformerEncoderLayer(
            c.hidden_size, c.num_heads, dim_feedforward=2 * c.hidden_size, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, c.num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any) -> dict[str, Any]:
        seq = input_ids.size(1)
        pos = torch.arange(seq, device=input_ids.device)
        hidden = self.embed(input_ids) + self.positions(pos)
        mask = nn.Transformer.generate_square_subsequent_mask(seq, device=input_ids.device)
        logits = self.head(self.encoder(hidden, mask=mask, is_causal=True))
        loss = None
        if labels is not None:
            shifted = logits[:, :-1].reshape(-1, logits.size(-1))
            targets = labels[:, 1:].reshape(-1)
            loss = nn.functional.cross_entropy(shifted, targets, reduction="sum")
            items = kwargs.get("num_items_in_batch")
            loss = loss / (items if items is not None else targets.numel())
        return {"loss": loss, "logits": logits}


class SyntheticRegression(Dataset):
    """`n` samples of ``{"x", "labels"}`` where labels are a fixed linear function of x."""

    def __init__(self, n: int = 256, in_features: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, in_features, generator=g)
        w = torch.randn(in_features, generator=g)
        self.y = self.x @ w

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class SyntheticTokens(Dataset):
    """`n` token sequences that count up modulo the vocabulary: easy to learn."""

    def __init__(self, n: int = 128, seq_len: int = 16, vocab_size: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, vocab_size, (n, 1), generator=g)
        self.ids = (starts + torch.arange(seq_len)) % vocab_size

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def demo_inputs(kind: str = "mlp", *, samples: int = 256) -> dict[str, Any]:
    """`TrainerInit` keyword arguments for a demo: ``"mlp"`` or ``"lm"``."""
    if kind == "mlp":
        return {"model": TinyMLP(), "train_dataset": SyntheticRegression(samples)}
    if kind == "lm":
        return {"model": TinyTransformerLM(), "train_dataset": SyntheticTokens(samples)}
    msg = f"unknown demo kind {kind!r}; use 'mlp' or 'lm'"
    raise ValueError(msg)
