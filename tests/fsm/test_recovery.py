"""Recovery: every phase fails cleanly, retry/resume reach Ready, reconfigure re-runs only
what a change affects."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import torch

from events import PhaseRetrying
from events.testing import capture_events
from fsm import FAILED, PHASES, READY, TRIGGERS, PhaseError, RetryPolicy, StateError, TrainerInit
from fsm.demo import SyntheticRegression, TinyLMConfig, TinyMLP, TinyTransformerLM
from handlers import default_phases


class FailAfterWork:
    """Runs the real phase, then raises: its rollback must undo real work."""

    def __init__(self, trigger: str, times: int = 1, error: type[Exception] = RuntimeError) -> None:
        self.inner = default_phases()[trigger]
        self.trigger = trigger
        self.reads = self.inner.reads
        self.remaining = times
        self.error = error

    def run(self, ctx):
        fact = self.inner.run(ctx)
        if self.remaining > 0:
            self.remaining -= 1
            raise self.error(f"injected failure in {self.trigger}")
        return fact

    def rollback(self, ctx):
        self.inner.rollback(ctx)


def _world_state(init: TrainerInit) -> dict:
    """What lies outside the context that a phase may change."""
    from accelerate.state import AcceleratorState, PartialState

    model = init.inputs.model
    return {
        "context": init.context.snapshot(),
        "torch_rng": torch.get_rng_state(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "partial_state": dict(PartialState._shared_state),
        "accelerator_state": dict(AcceleratorState._shared_state),
        "output_dir_exists": Path(init.config.resolved_output_dir).exists(),
        "model_devices": [p.device for p in model.parameters()],
        "use_cache": model.config.use_cache,
        "logger_level": logging.getLogger("trainer_fsm").level,
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.fixture
def lm_init_factory(cpu_config):
    def make(**kwargs):
        model = TinyTransformerLM(TinyLMConfig(use_cache=True))
        config = cpu_config.replace(full_determinism=True, log_level="info", use_cache=False)
        return TrainerInit(config, model=model, train_dataset=SyntheticRegression(16), log=False, **kwargs)

    return make


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_phase_fails_cleanly_and_retry_reaches_ready(trigger, lm_init_factory):
    """Fault injected after each phase's real work: Failed, world as before the phase, retry -> Ready."""
    init = lm_init_factory(handlers={trigger: FailAfterWork(trigger)})
    spec = next(p for p in PHASES if p.trigger == trigger)
    while init.state != spec.source:
        init.step()
    before = _world_state(init)
    with capture_events() as events:
        with pytest.raises(PhaseError, match=f"phase '{trigger}' failed") as info:
            init.run()
        assert info.value.phase == trigger
        assert init.state == FAILED and init.failed_phase == trigger
        assert init.last_good_state == spec.source
        _assert_same(_world_state(init), before)
        init.retry()
        assert init.state == spec.dest
        setup = init.resume()
    assert init.state == READY and setup.model is init.inputs.model
    story = [(e.name, e.phase) for e in events if e.phase == trigger or e.name in ("InitFailed", "InitReady")]
    assert story[:4] == [
        ("PhaseStarted", trigger),
        ("PhaseRolledBack", trigger),
        ("PhaseFailed", trigger),
        ("InitFailed", trigger),
    ]
    assert story[4][0] == "PhaseStarted" and story[-1] == ("InitReady", None)
    assert [e.attempt for e in events if e.name == "PhaseStarted" and e.phase == trigger] == [1, 2]


def test_transient_model_init_error_is_retried_without_the_user(cpu_config):
    """A model_init raising ConnectionError once is retried and the set-up reaches Ready."""
    calls = []

    def model_init():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("weights server dropped the connection")
        return TinyMLP()

    init = TrainerInit(cpu_config, model_init=model_init, log=False)
    with capture_events() as events:
        init.run()
    assert init.state == READY and len(calls) == 2
    retrying = events.of_type(PhaseRetrying)
    assert len(retrying) == 1 and retrying[0].phase == "resolve_model" and retrying[0].attempt == 2
    assert retrying[0].error_type == "ConnectionError" and retrying[0].delay_s > 0


def test_transient_errors_stop_after_max_attempts(cpu_config):
    """A phase failing transiently every time gives up after the policy's attempts."""

    def model_init():
        raise TimeoutError("still down")

    init = TrainerInit(cpu_config, model_init=model_init, retry=RetryPolicy(max_attempts=2, initial_delay=0), log=False)
    with pytest.raises(PhaseError) as info:
        init.run()
    assert info.value.attempt == 2 and init.state == FAILED


def test_non_transient_errors_fail_at_once(cpu_config):
    """A ValueError is not retried by the default policy."""
    calls = []

    def model_init():
        calls.append(1)
        raise ValueError("bad architecture")

    with pytest.raises(PhaseError):
        TrainerInit(cpu_config, model_init=model_init, log=False).run()
    assert len(calls) == 1


def test_per_trigger_policy(cpu_config):
    """A mapping gives one trigger its own policy; unknown triggers are rejected."""
    from fsm import ConfigError

    calls = []

    def model_init():
        calls.append(1)
        raise ConnectionError("down")

    init = TrainerInit(
        cpu_config,
        model_init=model_init,
        retry={"resolve_model": RetryPolicy(max_attempts=4, initial_delay=0)},
        log=False,
    )
    with pytest.raises(PhaseError):
        init.run()
    assert len(calls) == 4
    with pytest.raises(ConfigError, match="unknown trigger"):
        TrainerInit(cpu_config, model_init=model_init, retry={"resolve": RetryPolicy()})


def test_transient_oserrors_by_errno():
    """EAGAIN/EBUSY/ETIMEDOUT OSErrors are transient; ENOENT is not; causes are followed."""
    import errno

    from fsm.retry import is_transient

    assert is_transient(OSError(errno.EBUSY, "busy"))
    assert is_transient(OSError(errno.ETIMEDOUT, "timed out"))
    assert not is_transient(OSError(errno.ENOENT, "missing"))
    try:
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_backoff_grows_with_jitter_and_a_cap():
    """Delays grow by the multiplier, stay under the cap plus jitter."""
    import random

    policy = RetryPolicy(initial_delay=0.1, multiplier=2, max_delay=0.3, jitter=0.5)
    rng = random.Random(0)
    delays = [policy.delay(a, rng=rng) for a in (1, 2, 3, 4)]
    assert 0.1 <= delays[0] <= 0.15
    assert 0.2 <= delays[1] <= 0.3
    assert all(0.3 <= d <= 0.45 for d in delays[2:])


def test_retry_and_resume_in_the_wrong_state_say_what_to_do(cpu_config, mlp_inputs):
    """retry() without a failure raises StateError; resume() from mid-way just runs on."""
    init = TrainerInit(cpu_config, **mlp_inputs, log=False)
    with pytest.raises(StateError, match="retry\\(\\) needs a failed phase"):
        init.retry()
    init.step()
    assert init.resume().model is mlp_inputs["model"]


def _tree_digest(root: Path) -> dict[str, str]:
    # The user's files; trainer-fsm's own audit log (trainer_fsm_audit*.jsonl) is written there too.
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("trainer_fsm_audit")
    }


@pytest.mark.parametrize("trigger", ["prepare_output", "init_state", "finalize"])
def test_users_files_survive_failures_and_rollbacks(tmp_path, trigger, mlp_inputs, cpu_config):
    """An output_dir holding a user's files keeps every file, byte for byte, through failure,
    rollback, retry and reconfigure."""
    out = tmp_path / "user_out"
    (out / "sub").mkdir(parents=True)
    (out / "README.txt").write_text("my notes")
    (out / "sub" / "weights.bin").write_bytes(bytes(range(256)))
    digest = _tree_digest(out)
    init = TrainerInit(
        cpu_config.replace(output_dir=str(out)), handlers={trigger: FailAfterWork(trigger)}, **mlp_inputs, log=False
    )
    with pytest.raises(PhaseError):
        init.run()
    assert _tree_digest(out) == digest
    init.resume()
    init.reconfigure(output_dir=str(tmp_path / "elsewhere"))
    assert _tree_digest(out) == digest
    init.resume()
    assert _tree_digest(out) == digest


def test_reconfigure_after_ready_reruns_only_affected_phases(tmp_path, cpu_config):
    """Changing output_dir re-runs prepare_output, init_state, finalize; model_init runs once."""
    calls = []

    def model_init():
        calls.append(1)
        return TinyTransformerLM()

    init = TrainerInit(cpu_config, model_init=model_init, log=False)
    first = init.run()
    with capture_events() as events:
        state = init.reconfigure(output_dir=str(tmp_path / "new_out"))
        assert state == "CallbacksRegistered"
        second = init.resume()
    rerun = [e.phase for e in events if e.name == "PhaseStarted"]
    rolled = [e.phase for e in events if e.name == "PhaseRolledBack"]
    assert rerun == ["prepare_output", "init_state", "finalize"]
    assert rolled == ["finalize", "init_state", "prepare_output"]
    assert len(calls) == 1
    assert second.model is first.model
    assert second.output_dir == str(tmp_path / "new_out") and (tmp_path / "new_out").is_dir()
    assert not Path(first.output_dir).exists()  # created by the set-up, empty: removed
    assert events.names()[2] == "Reconfigured" or "Reconfigured" in events.names()


def test_reconfigure_seed_reruns_everything_but_keeps_given_model(cpu_config, mlp_inputs):
    """seed is read by the first phase: every phase re-runs from Uninitialized."""
    init = TrainerInit(cpu_config, **mlp_inputs, log=False)
    init.run()
    assert init.reconfigure(seed=7) == "Uninitialized"
    with capture_events() as events:
        init.resume()
    assert [e.phase for e in events if e.name == "PhaseStarted"] == list(TRIGGERS)
    assert init.config.seed == 7


def test_reconfigure_precision_rebuilds_the_accelerator(cpu_config, mlp_inputs):
    """bf16 is read by accelerate: the accelerator is rebuilt with the new precision."""
    init = TrainerInit(cpu_config, **mlp_inputs, log=False)
    assert init.run().accelerator.mixed_precision == "no"
    assert init.reconfigure(bf16=True) == "Seeded"
    assert init.resume().accelerator.mixed_precision == "bf16"


def test_rejected_reconfigure_changes_nothing(cpu_config, mlp_inputs):
    """A change the guards reject raises ConfigError; state and config stay."""
    from fsm import ConfigError

    init = TrainerInit(cpu_config, **mlp_inputs, log=False)
    init.run()
    with pytest.raises(ConfigError):
        init.reconfigure(fp16=True, bf16=True)
    with pytest.raises(ConfigError, match="sede"):
        init.reconfigure(sede=1)
    assert init.state == READY and init.config == cpu_config


def test_reconfigure_from_failed_then_resume(cpu_config, mlp_inputs):
    """After a failure, fixing the config with reconfigure and resuming reaches Ready."""
    init = TrainerInit(cpu_config, handlers={"init_state": FailAfterWork("init_state")}, **mlp_inputs, log=False)
    with pytest.raises(PhaseError):
        init.run()
    init.reconfigure(max_steps=5)
    assert init.state == "OutputPrepared"
    assert init.resume().state.max_steps == 5
