"""The guard layer: every problem reported at once, before anything changes.

`TrainerInit.run()` validates first: a rejected set-up raises one `ConfigError` listing
every violation, emits `GuardRejected`, and leaves the machine in Uninitialized with the
file system, the RNGs, accelerate's state and the model exactly as they were.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from events.testing import capture_events
from events.types import GuardRejected
from fsm import ConfigError, InitConfig, TrainerInit, Violation, validate
from fsm.guards import RULES, GuardSubject, Hardware, rule, run_rules

REPO = Path(__file__).resolve().parents[2]


def _accelerate_state() -> list[dict]:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    return [dict(s) for s in (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state)]


def _rng_state() -> tuple:
    return (random.getstate(), np.random.get_state()[1].tolist(), torch.get_rng_state())


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


BAD = {
    "fp16": True,
    "bf16": True,
    "logging_steps": 0,
    "report_to": "wandb",
    "per_device_train_batch_size": "8",
}


def test_several_problems_are_reported_in_one_config_error(cpu_config, mlp_inputs):
    """Four independent problems give one ConfigError that lists all four, numbered, with fixes."""
    init = TrainerInit(cpu_config.replace(**BAD), **mlp_inputs, log=False)
    with pytest.raises(ConfigError, match=r"rejected before anything changed: 4 problems") as caught:
        init.run()
    rules = [v.rule for v in caught.value.violations]
    assert sorted(rules) == sorted(
        ["precision.fp16_with_bf16", "steps.positive", "callbacks.report_to_unknown", "types.field_type"]
    )
    text = str(caught.value)
    for i in range(1, 5):
        assert f"\n  {i}. [" in text
    assert text.count("fix: ") == 4
    assert "per_device_train_batch_size" in text and "'wandb'" in text


def test_rejection_leaves_everything_as_it_was(cpu_config, mlp_inputs, tmp_path):
    """After a rejection: no output dir, same RNG states, no accelerate state, model untouched, no phase run."""
    model = mlp_inputs["model"]
    params_before = [(p, p.detach().clone(), p.device) for p in model.parameters()]
    config = cpu_config.replace(**BAD)
    init = TrainerInit(config, **mlp_inputs)  # (its first log subscriber imports structlog, which draws on `random`)
    files_before = _files(tmp_path)
    rng_before = _rng_state()
    accelerate_before = _accelerate_state()
    level_before = logging.getLogger("trainer_fsm").level
    with capture_events() as events, pytest.raises(ConfigError):
        init.run()
    assert init.state == "Uninitialized"
    assert not Path(config.output_dir).exists()
    assert _files(tmp_path) == files_before
    rng_after = _rng_state()
    assert rng_after[0] == rng_before[0] and rng_after[1] == rng_before[1]
    assert torch.equal(rng_after[2], rng_before[2])
    assert _accelerate_state() == accelerate_before
    from accelerate.state import AcceleratorState

    assert not AcceleratorState._shared_state.get("initialized", False)
    assert [(p, p.device) for p in model.parameters()] == [(p, d) for p, _, d in params_before]
    assert all(torch.equal(p, saved) for p, saved, _ in params_before)
    assert logging.getLogger("trainer_fsm").level == level_before
    assert events.names() == ["GuardRejected"]
    (rejected,) = events.of_type(GuardRejected)
    assert rejected.state == "Uninitialized" and len(rejected.violations) == 4
    json.dumps(rejected.violations)  # JSON-able, for the audit log


def test_step_is_guarded_like_run(cpu_config, mlp_inputs):
    """step() from Uninitialized validates first, so even one phase is never run on a bad config."""
    init = TrainerInit(cpu_config.replace(fp16=True, bf16=True), **mlp_inputs, log=False)
    with pytest.raises(ConfigError, match=r"precision\.fp16_with_bf16"):
        init.step()
    assert init.state == "Uninitialized"


def test_a_fixed_config_then_reaches_ready(cpu_config, mlp_inputs):
    """The same inputs with a valid config go through all eleven phases."""
    setup = TrainerInit(cpu_config, **mlp_inputs, log=False).run()
    assert setup is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("per_device_train_batch_size", "8"),
        ("per_device_train_batch_size", True),
        ("gradient_accumulation_steps", 2.0),
        ("learning_rate", "1e-4"),
        ("fp16", "yes"),
        ("seed", None),
        ("fsdp", 5),
        ("report_to", None),
        ("eval_strategy", 1),
        ("fsdp_config", ["cpu_offload"]),
        ("label_names", "labels"),
        ("warmup_steps", float("inf")),
    ],
)
def test_wrong_type_is_one_violation_naming_the_field(cpu_config, mlp_inputs, field, value):
    """A wrong-typed value gives exactly one violation, on that field: no TypeError, no noise from other rules."""
    init = TrainerInit(cpu_config.replace(**{field: value}), **mlp_inputs, log=False)
    with pytest.raises(ConfigError, match=rf"\[types\.field_type\] {field} must be") as caught:
        init.run()
    assert [(v.rule, v.fields) for v in caught.value.violations] == [("types.field_type", (field,))]


def test_secret_values_never_reach_the_message(cpu_config, mlp_inputs):
    """A hub_token of the wrong type is reported by type only; its value is not in the message."""
    init = TrainerInit(cpu_config.replace(hub_token=918273645), **mlp_inputs, log=False)
    with pytest.raises(ConfigError, match="hub_token must be") as caught:
        init.run()
    assert "918273645" not in str(caught.value)


def test_a_check_that_raises_is_reported_not_raised(cpu_config, mlp_inputs):
    """A rule whose check raises becomes a violation naming the rule; validate still returns everything."""

    @rule("test.broken", fields=("seed",))
    def broken(s):
        """A check with a bug."""
        raise KeyError("boom")

    try:
        found = validate(cpu_config, **mlp_inputs)
    finally:
        del RULES["test.broken"]
    assert [v.rule for v in found] == ["test.broken"]
    assert "KeyError" in found[0].message
    assert validate(cpu_config, **mlp_inputs) == []


def test_validate_takes_a_mapping_and_names_unknown_keys(mlp_inputs):
    """validate() accepts a dict of fields; a misspelt key raises ConfigError with the closest name."""
    assert validate({"use_cpu": True, "output_dir": "out"}, **mlp_inputs) == []
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        validate({"learnig_rate": 1e-3}, **mlp_inputs)


def test_violation_is_plain_data():
    """A violation renders as '[rule] message / fix: hint' and as a JSON-able dict."""
    v = Violation("precision.fp16_with_bf16", ("fp16", "bf16"), "both on", "keep one")
    assert str(v) == "[precision.fp16_with_bf16] both on\n     fix: keep one"
    assert json.loads(json.dumps(v.to_dict())) == {
        "rule": "precision.fp16_with_bf16",
        "fields": ["fp16", "bf16"],
        "message": "both on",
        "hint": "keep one",
    }


def test_validate_for_another_machine(mlp_inputs):
    """With hardware= a config is checked for a target machine: bf16 is refused on a pre-Ampere GPU."""
    v100 = Hardware(device_type="cuda", fp16=True, bf16=False, tf32=False)
    found = validate(InitConfig(bf16=True, tf32=True), hardware=v100, **mlp_inputs)
    assert {v.rule for v in found} == {"precision.bf16_unsupported", "precision.tf32_unsupported"}
    assert validate(InitConfig(fp16=True), hardware=v100, **mlp_inputs) == []


def test_plain_configs_are_validated_without_importing_torch():
    """validate() of a config without precision settings imports neither torch nor accelerate."""
    code = (
        "import sys; from fsm import InitConfig, validate; "
        "found = validate(InitConfig(logging_steps=0, report_to='wandb', output_dir='o'), model_init=lambda: None); "
        "print(len(found), 'torch' in sys.modules, 'accelerate' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["2", "False", "False"]


@pytest.mark.parametrize("device", [None, "meta"])
@pytest.mark.parametrize("mode", ["fp16", "bf16"])
def test_hardware_prediction_matches_what_accelerate_does(monkeypatch, device, mode):
    """Hardware.detect() says a mode is supported exactly when accelerate builds the Accelerator with it."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if device is None:
        monkeypatch.delenv("ACCELERATE_TORCH_DEVICE", raising=False)
    else:
        monkeypatch.setenv("ACCELERATE_TORCH_DEVICE", device)
    predicted = getattr(Hardware.detect(use_cpu=True), mode)
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        Accelerator(cpu=True, mixed_precision=mode)
    except ValueError as exc:
        assert not predicted, f"accelerate refused {mode} ({exc}) but the guard predicted support"
    else:
        assert predicted, f"accelerate accepted {mode} but the guard predicted no support"


def test_this_machine_is_detected(monkeypatch):
    """On this machine the detected device is the one accelerate picks, and TF32 only with an Ampere+ GPU."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    monkeypatch.delenv("ACCELERATE_TORCH_DEVICE", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    hardware = Hardware.detect()
    AcceleratorState._reset_state(reset_partial_state=True)
    assert Accelerator().device.type == hardware.device_type
    capable = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
    assert hardware.tf32 == capable


def test_static_rules_do_not_look_at_the_context(cpu_config, mlp_inputs):
    """run_rules(None, ...) gives the same answer with or without a context (static rules need none)."""
    subject = GuardSubject(cpu_config.replace(fp16=True, bf16=True), mlp_inputs)
    with_context = GuardSubject(subject.config, mlp_inputs, context=object())
    assert run_rules(None, subject) == run_rules(None, with_context)


def test_a_config_reporting_through_transformers_accepts_its_integrations(mlp_inputs):
    """A config whose report_to is served by transformers' callbacks (the drop-in Trainer's) may name wandb."""
    import dataclasses
    from typing import ClassVar

    @dataclasses.dataclass(repr=False)
    class ThroughTransformers(InitConfig):
        reports_through_transformers: ClassVar[bool] = True

    assert validate(ThroughTransformers(report_to="wandb", use_cpu=True), **mlp_inputs) == []
    found = validate(InitConfig(report_to="wandb", use_cpu=True), **mlp_inputs)
    assert [v.rule for v in found] == ["callbacks.report_to_unknown"]
    assert "fsm.integrations.transformers.Trainer" in found[0].hint


def test_rule_ids_are_unique_and_triggers_real():
    """Registering a second check under a taken id, or on a trigger that is no phase, fails at once."""
    validate()  # the catalogue is loaded
    with pytest.raises(ValueError, match=r"'precision\.fp16_with_bf16' is already registered"):

        @rule("precision.fp16_with_bf16")
        def another(s):
            """Another check."""
            return ()

    with pytest.raises(ValueError, match="trigger='plac' is not a phase trigger; use one of seed"):
        rule("test.typo", trigger="plac")
    assert RULES["precision.fp16_with_bf16"].check.__module__ == "fsm.rules.precision"
