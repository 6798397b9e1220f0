"""The drop-in Trainer: set up by the machine, trained by transformers, equal to a plain Trainer."""

from __future__ import annotations

import dataclasses
import os

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from events.types import InitReady, PhaseCompleted, PhaseFailed, PhaseRetrying  # noqa: E402
from fsm import FAILED, READY, TRIGGERS, PhaseError, RetryPolicy, StateError  # noqa: E402
from fsm.integrations.transformers import MachineCallbackHandler, Trainer  # noqa: E402


class InitEndCounter(transformers.TrainerCallback):
    """Counts on_init_end calls and keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_init_end(self, args, state, control, **kwargs):
        self.calls.append((args, state, control))


def _losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def test_trains_and_the_loss_falls(hf_args, tokens, make_gpt2):
    """The subclass trains five steps with transformers' loop and the logged loss falls."""
    trainer = Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, log=False)
    assert trainer.fsm.state == READY
    result = trainer.train()
    losses = _losses(trainer)
    assert trainer.state.global_step == 5 and len(losses) == 5
    assert losses[-1] < losses[0] - 0.2
    assert result.global_step == 5


def test_public_attributes_equal_a_plain_trainer(hf_args, tokens, make_gpt2):
    """After construction, the attributes transformers' own Trainer sets are there with equal values."""
    counter = InitEndCounter()
    plain = transformers.Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens)
    ours = Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, callbacks=[counter], log=False)
    assert ours.callback_handler.pop_callback(counter) is counter  # only ours got one; compare the rest

    missing = set(vars(plain)) - set(vars(ours))
    assert not missing, f"attributes a plain Trainer has and the bridge does not set: {sorted(missing)}"
    assert ours.args is hf_args
    assert ours.label_names == plain.label_names == ["labels"]
    assert [type(cb) for cb in ours.callback_handler.callbacks] == [type(cb) for cb in plain.callback_handler.callbacks]
    assert isinstance(ours.callback_handler, transformers.trainer_callback.CallbackHandler)
    assert next(ours.model.parameters()).device == next(plain.model.parameters()).device == torch.device("cpu")
    assert ours.model is ours.model_wrapped
    assert type(ours.state) is type(plain.state)
    assert dataclasses.asdict(ours.state) == dataclasses.asdict(plain.state)
    assert type(ours.control) is type(plain.control)
    assert dataclasses.asdict(ours.control) == dataclasses.asdict(plain.control)
    for name in ("mixed_precision", "gradient_accumulation_steps", "device", "distributed_type", "num_processes"):
        assert getattr(ours.accelerator, name) == getattr(plain.accelerator, name), name
    assert ours.accelerator.gradient_accumulation_steps == 1  # transformers accumulates in its own loop
    assert ours.model.config.use_cache == plain.model.config.use_cache
    skip = {"accelerator", "callback_handler", "model", "model_wrapped", "state", "control", "gather_function"}
    skip |= {"_memory_tracker", "args", "train_dataset", "label_smoother", "data_collator"}
    for name in sorted(set(vars(plain)) - skip):
        assert getattr(ours, name) == getattr(plain, name), name
    assert ours.data_collator is plain.data_collator  # transformers' default_data_collator


def test_construction_runs_the_eleven_phases(hf_args, tokens, make_gpt2):
    """The constructor emits PhaseCompleted for every phase in order, then InitReady."""
    from events.testing import capture_events

    with capture_events() as events:
        Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, log=False)
    assert [e.phase for e in events.of_type(PhaseCompleted)] == list(TRIGGERS)
    assert len(events.of_type(InitReady)) == 1


def test_transformers_callback_sees_init_end_once(hf_args, tokens, make_gpt2):
    """A transformers callback gets on_init_end exactly once, with the user's own TrainingArguments."""
    counter = InitEndCounter()
    trainer = Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, callbacks=[counter], log=False)
    assert len(counter.calls) == 1
    args, state, control = counter.calls[0]
    assert args is hf_args
    assert state is trainer.state and control is trainer.control
    assert isinstance(trainer.callback_handler, MachineCallbackHandler)


def test_failed_phase_is_retried_on_the_subclass(hf_args, tokens, make_gpt2):
    """A model_init that fails once (not transient) leaves a Failed trainer; retry() finishes it and it trains."""
    calls = []

    def flaky_model_init():
        calls.append(1)
        if len(calls) == 1:
            msg = "weights not ready yet"
            raise RuntimeError(msg)
        return make_gpt2()

    from events.testing import capture_events

    with capture_events() as events, pytest.raises(PhaseError, match=r"resolve_model.*weights not ready") as info:
        Trainer(model_init=flaky_model_init, args=hf_args, train_dataset=tokens, log=False)
    trainer = info.value.trainer
    assert trainer.fsm.state == FAILED and trainer.fsm.failed_phase == "resolve_model"
    assert len(calls) == 1  # not transient: no automatic retry
    assert [e.phase for e in events.of_type(PhaseFailed)] == ["resolve_model"]
    assert "model_init" not in vars(trainer)  # the failed phase's attributes were rolled back

    assert trainer.retry() is trainer
    assert trainer.fsm.state == READY and len(calls) == 2
    assert trainer.model_init is flaky_model_init
    trainer.args.max_steps = 2
    trainer.train()
    assert trainer.state.global_step == 2
    with pytest.raises(StateError, match="retry\\(\\) needs a failed set-up"):
        trainer.retry()
    with pytest.raises(StateError, match="build a new Trainer with the changed TrainingArguments"):
        trainer.fsm.reconfigure(learning_rate=1.0)
    assert trainer.fsm.state == READY and trainer.fsm.config.learning_rate == hf_args.learning_rate


def test_evaluate_and_save_model_work(hf_args, tokens, tmp_path, make_gpt2, make_tokens):
    """The inherited evaluate() and save_model() work on the machine-built trainer."""
    trainer = Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, eval_dataset=make_tokens(16), log=False)
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] > 0
    target = tmp_path / "saved"
    trainer.save_model(str(target))
    assert (target / "config.json").is_file()
    assert {"model.safetensors", "pytorch_model.bin"} & set(os.listdir(target))
    reloaded = transformers.GPT2LMHeadModel.from_pretrained(str(target))
    assert torch.equal(reloaded.lm_head.weight, trainer.model.lm_head.weight.cpu())


def test_guard_rejection_changes_nothing(hf_args, tokens):
    """Neither model nor model_init: the set-up stops before any phase, with a message naming both."""
    from fsm import ConfigError

    with pytest.raises((ConfigError, PhaseError), match="model_init"):
        Trainer(args=hf_args, train_dataset=tokens, log=False)
    assert not os.path.exists(hf_args.output_dir)


def test_transient_failure_is_retried_by_the_policy(hf_args, tokens, make_gpt2):
    """A model_init that drops its connection once is retried by the RetryPolicy; construction succeeds."""
    calls = []

    def model_init():
        calls.append(1)
        if len(calls) == 1:
            msg = "hub connection reset"
            raise ConnectionError(msg)
        return make_gpt2()

    from events.testing import capture_events

    policy = RetryPolicy(max_attempts=2, initial_delay=0.0, jitter=0.0)
    with capture_events() as events:
        trainer = Trainer(model_init=model_init, args=hf_args, train_dataset=tokens, retry=policy, log=False)
    assert trainer.fsm.state == READY and len(calls) == 2
    assert [e.phase for e in events.of_type(PhaseRetrying)] == ["resolve_model"]


def test_audit_log_is_written_and_verifies(tmp_path, tokens, make_gpt2):
    """By default the drop-in leaves a verifiable audit log in output_dir, with the carried arguments and no token."""
    from events.audit import read, verify

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to="none",
        max_steps=1,
        neftune_noise_alpha=5.0,
        hub_token="hf_auditcanary0123456789",
    )
    trainer = Trainer(model=make_gpt2(), args=args, train_dataset=tokens, log=False)
    path = tmp_path / "out" / "trainer_fsm_audit.jsonl"
    assert trainer.fsm.setup.audit_path == str(path)
    assert verify(path)
    started = [r for r in read(path).records if r.event == "InitStarted"]
    assert started[0].payload["config"]["passthrough"]["neftune_noise_alpha"] == 5.0
    assert "hf_auditcanary0123456789" not in path.read_text()


def test_report_to_is_left_to_transformers(hf_args, tokens, make_gpt2):
    """The guards let report_to name a transformers integration; transformers' own callback then decides."""
    import warnings

    from fsm import InitConfig, validate

    hf_args.report_to = ["wandb"]  # not installed here: transformers' WandbCallback refuses
    with pytest.raises(PhaseError, match=r"register_callbacks.*wandb") as info:
        Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, log=False)
    assert info.value.trainer.fsm.last_good_state == "ArgumentsStored"
    # the core set-up (trainer-fsm's own callbacks) rejects it up front instead
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = InitConfig.from_training_arguments(hf_args)
    assert [v.rule for v in validate(config, model=make_gpt2())] == ["callbacks.report_to_unknown"]


class _LogitsOnly(torch.nn.Module):
    """A language model whose forward takes no labels: the loss is the trainer's business."""

    def __init__(self, make_gpt2) -> None:
        super().__init__()
        self.inner = make_gpt2()

    def forward(self, input_ids):
        return {"logits": self.inner(input_ids=input_ids).logits}


class _OwnLossTrainer(Trainer):
    """The usual transformers pattern: a subclass that computes the loss itself."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"][:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1))
        return (loss, outputs) if return_outputs else loss


def test_subclass_with_its_own_compute_loss_is_accepted(hf_args, tokens, make_gpt2):
    """A model without labels passes the guards when a Trainer subclass overrides compute_loss, and trains."""
    from fsm import ConfigError

    hf_args.remove_unused_columns = False
    hf_args.max_steps = 2
    with pytest.raises(ConfigError, match="cannot compute a loss"):
        Trainer(model=_LogitsOnly(make_gpt2), args=hf_args, train_dataset=tokens, log=False)
    trainer = _OwnLossTrainer(model=_LogitsOnly(make_gpt2), args=hf_args, train_dataset=tokens, log=False)
    trainer.train()
    assert trainer.state.global_step == 2


@pytest.fixture
def local_hub(hub_server, monkeypatch):
    """Point transformers' and huggingface_hub's shared clients at the local hub server."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub_server.url)
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", hub_server.url)
    monkeypatch.setattr(transformers.utils.hub, "_hf_api", None, raising=False)
    return hub_server


def test_hub_repo_through_transformers_is_retried(local_hub, hf_args, tokens, make_gpt2):
    """push_to_hub: transformers' init_hf_repo creates the repo (a 503 first is retried); push_to_hub() can find it."""
    from events.testing import capture_events

    local_hub.state.fail_next = 1
    hf_args.push_to_hub, hf_args.hub_model_id, hf_args.hub_token = True, "team/tiny", "hf_hubcanary0123456789"
    policy = RetryPolicy(max_attempts=2, initial_delay=0.0, jitter=0.0)
    with capture_events() as events:
        trainer = Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, retry=policy, log=False)
    assert trainer.hub_model_id == "team/tiny"
    assert [e.phase for e in events.of_type(PhaseRetrying)] == ["prepare_output"]
    assert [r["path"] for r in local_hub.state.requests] == ["/api/repos/create"] * 2
    assert local_hub.state.requests[-1]["authorization"] == "Bearer hf_hubcanary0123456789"
    assert all("hf_hubcanary0123456789" not in str(e.to_dict()) for e in events)


def test_bridge_names_do_not_hide_transformers_methods():
    """The names the subclass adds (fsm, retry, resume) are not transformers.Trainer attributes it would hide."""
    added = set(vars(Trainer)) - {"__init__", "__module__", "__doc__", "__annotations__", "__firstlineno__"}
    added -= {"__static_attributes__"}
    assert added == {"_drive", "retry", "resume"}
    assert not any(hasattr(transformers.Trainer, name) for name in [*added, "fsm"])


def test_constructor_signature_extends_the_parent():
    """The parent's parameters come first, same names, order and defaults; the bridge's options are keyword-only."""
    import inspect

    parent = list(inspect.signature(transformers.Trainer.__init__).parameters.values())
    ours = list(inspect.signature(Trainer.__init__).parameters.values())
    assert [(p.name, p.default) for p in ours[: len(parent)]] == [(p.name, p.default) for p in parent]
    extra = ours[len(parent) :]
    assert [p.name for p in extra] == ["bus", "retry", "audit", "handlers", "log"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra)


def test_tokenizer_gives_the_padding_collator(hf_args, tokens, make_gpt2):
    """With a tokenizer as processing_class, the default collator pads with it, as in a plain Trainer."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"t{i}": i for i in range(2, 64)}}
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]")), pad_token="[PAD]"
    )
    plain = transformers.Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, processing_class=tokenizer)
    ours = Trainer(model=make_gpt2(), args=hf_args, train_dataset=tokens, processing_class=tokenizer, log=False)
    assert type(ours.data_collator) is type(plain.data_collator) is transformers.DataCollatorWithPadding
    assert ours.data_collator.tokenizer is tokenizer and ours.processing_class is tokenizer
    batch = ours.data_collator([{"input_ids": [2, 3]}, {"input_ids": [4]}])
    assert batch["input_ids"].tolist() == [[2, 3], [4, 0]]
