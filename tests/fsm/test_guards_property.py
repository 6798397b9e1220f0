"""Property: any generated configuration either reaches Ready or is rejected by the guards.

Hypothesis draws configs that mix valid values, out-of-range values, unknown names and
wrong types over many fields at once, with real inputs (a TinyMLP, synthetic data,
sometimes an eval set, callbacks, a collator, an output path that is a file). Each
runs through `TrainerInit.run()`: the only outcomes allowed are Ready and `ConfigError`;
a rejected config leaves no directory, the RNGs, accelerate's state and the model as
they were, and the machine in Uninitialized.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fsm import ConfigError, InitConfig, TrainerCallback, TrainerInit
from fsm.config import LOG_LEVELS
from fsm.demo import SyntheticRegression, TinyMLP
from fsm.rules.enums import SCHEDULERS

_numbers = st.one_of(st.integers(-2, 1000), st.floats(-1, 1000, allow_nan=False))
_weird = st.sampled_from(["8", True, None, float("nan"), [1]])

FIELDS = {
    "per_device_train_batch_size": st.one_of(st.integers(-1, 32), _weird),
    "gradient_accumulation_steps": st.one_of(st.integers(-1, 4), st.just(2.0)),
    "learning_rate": st.one_of(st.floats(-1e-3, 1e-2, allow_nan=False), st.just("1e-4")),
    "fp16": st.one_of(st.booleans(), st.just(1)),
    "bf16": st.booleans(),
    "fp16_full_eval": st.booleans(),
    "bf16_full_eval": st.booleans(),
    "tf32": st.one_of(st.none(), st.booleans()),
    "eval_strategy": st.sampled_from(["no", "steps", "epoch", "step"]),
    "save_strategy": st.sampled_from(["no", "steps", "epoch", "best", "always"]),
    "logging_strategy": st.sampled_from(["no", "steps", "epoch"]),
    "logging_steps": _numbers,
    "eval_steps": st.one_of(st.none(), _numbers),
    "save_steps": _numbers,
    "load_best_model_at_end": st.booleans(),
    "metric_for_best_model": st.sampled_from([None, "loss"]),
    "lr_scheduler_type": st.sampled_from([*SCHEDULERS, "cosin"]),
    "warmup_steps": st.one_of(st.floats(-1, 50, allow_nan=False), st.integers(0, 10)),
    "report_to": st.sampled_from(["none", "all", "tensorboard", "wandb", ["none"], [], ["none", "wandb"]]),
    "dataloader_num_workers": st.integers(-1, 2),
    "dataloader_prefetch_factor": st.one_of(st.none(), st.integers(0, 4)),
    "dataloader_persistent_workers": st.booleans(),
    "seed": st.one_of(st.integers(-5, 2**33), st.just(True)),
    "log_level": st.sampled_from([*LOG_LEVELS, "verbose"]),
    "label_smoothing_factor": st.floats(-0.5, 1.5, allow_nan=False),
    "max_steps": st.integers(-1, 100),
    "num_train_epochs": st.floats(0, 3, allow_nan=False),
    "fsdp": st.sampled_from([None, "full_shard", "bogus", 3]),
    "torch_empty_cache_steps": st.one_of(st.none(), st.integers(-1, 5)),
    "optim": st.sampled_from(["adamw_torch", "sgd", "adam"]),
    "ddp_backend": st.sampled_from([None, "gloo", "nccl2"]),
    "use_cache": st.booleans(),
}

_NEEDS_MORE = ("reduce_lr_on_plateau", "greedy", "cosine_with_min_lr", "cosine_warmup_with_min_lr")
VALID = {
    "per_device_train_batch_size": st.integers(1, 32),
    "gradient_accumulation_steps": st.integers(1, 4),
    "learning_rate": st.floats(0, 1e-2),
    "fp16": st.booleans(),
    "bf16_full_eval": st.booleans(),
    "logging_steps": st.one_of(st.integers(1, 100), st.floats(0.01, 0.99)),
    "save_strategy": st.sampled_from(["no", "steps", "epoch"]),
    "lr_scheduler_type": st.sampled_from([s for s in SCHEDULERS if s not in _NEEDS_MORE]),
    "warmup_steps": st.one_of(st.integers(0, 10), st.floats(0, 0.99)),
    "seed": st.integers(0, 2**32 - 1),
    "log_level": st.sampled_from(LOG_LEVELS),
    "label_smoothing_factor": st.floats(0, 1),
    "max_steps": st.integers(1, 100),
    "dataloader_num_workers": st.integers(0, 2),
    "report_to": st.sampled_from(["none", "all", ["none"], []]),
    "use_cache": st.booleans(),
}
"""Values every rule accepts, so that a good share of the examples goes all the way to Ready."""

configs = st.one_of(st.fixed_dictionaries({}, optional=VALID), st.fixed_dictionaries({}, optional=FIELDS))
valid_inputs = st.fixed_dictionaries({}, optional={"callbacks": st.just([TrainerCallback])})
inputs = st.fixed_dictionaries(
    {},
    optional={
        "eval_dataset": st.just("eval"),
        "callbacks": st.sampled_from([[TrainerCallback], [print], ["tensorboard"]]),
        "data_collator": st.sampled_from([42, "collate"]),
        "output_is_a_file": st.just(True),
    },
)
_counter = itertools.count()


def _accelerate_state() -> list[dict]:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    return [dict(s) for s in (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state)]


def _restore_accelerate_state(saved: list[dict]) -> None:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    shared = (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state)
    for live, before in zip(shared, saved, strict=True):
        live.clear()
        live.update(before)


def _build_inputs(drawn: dict, root: Path) -> tuple[str, dict]:
    output_dir = root / f"out{next(_counter)}"
    if drawn.get("output_is_a_file"):
        output_dir.write_text("a user's file")
    given = {"model": TinyMLP(), "train_dataset": SyntheticRegression(16)}
    if "eval_dataset" in drawn:
        given["eval_dataset"] = SyntheticRegression(8)
    if "callbacks" in drawn:
        given["callbacks"] = drawn["callbacks"]
    if "data_collator" in drawn:
        given["data_collator"] = torch.utils.data.default_collate if drawn["data_collator"] == "collate" else 42
    return str(output_dir), given


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=configs, drawn=st.one_of(valid_inputs, inputs))
def test_every_config_reaches_ready_or_is_rejected_cleanly(fields, drawn, tmp_path):
    """Ready or ConfigError, nothing else; a rejection leaves no trace (files, RNGs, accelerate, model)."""
    output_dir, given_inputs = _build_inputs(drawn, tmp_path)
    config = InitConfig(output_dir=output_dir, use_cpu=True, **fields)
    model = given_inputs["model"]
    params = [(p, p.detach().clone(), p.device) for p in model.parameters()]
    existed = Path(output_dir).exists()
    accelerate_before = _accelerate_state()
    init = TrainerInit(config, **given_inputs, log=False)
    rng_before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    try:
        init.run()
    except ConfigError as exc:
        event("rejected")
        assert exc.violations, "a ConfigError from the guards lists its violations"
        assert init.state == "Uninitialized"
        assert Path(output_dir).exists() == existed
        assert random.getstate() == rng_before[0]
        assert (np.random.get_state()[1] == rng_before[1]).all()
        assert torch.equal(torch.get_rng_state(), rng_before[2])
        assert _accelerate_state() == accelerate_before
        assert all(p.device == d and torch.equal(p, saved) for p, saved, d in params)
    else:
        event("ready")
        assert init.state == "Ready"
    finally:
        _restore_accelerate_state(accelerate_before)
