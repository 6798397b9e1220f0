"""One behavioural suite, run against both machines (TrainerInit and AsyncTrainerInit).

As transitions tests its extensions, every test here is parametrized over the machine
class; `settle` awaits what the async machine returns and passes the sync machine's
results through, so each test reads the same for both.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from events import (
    FactEvent,
    GuardRejected,
    InitFailed,
    PhaseCompleted,
    PhaseFailed,
    PhaseRetrying,
    PhaseRolledBack,
    PhaseStarted,
)
from events.testing import capture_events
from fsm import (
    FAILED,
    INITIAL,
    PHASES,
    READY,
    STATES,
    TRIGGERS,
    AsyncTrainerInit,
    ConfigError,
    PhaseError,
    RetryPolicy,
    StateError,
    TrainerInit,
)
from fsm.demo import TinyMLP

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=[TrainerInit, AsyncTrainerInit], ids=["sync", "async"])
def machine(request) -> type[TrainerInit]:
    """The machine class under test."""
    return request.param


async def settle(result: Any) -> Any:
    """What a driving method returned: awaited for the async machine, as is for the sync one."""
    return await result if inspect.isawaitable(result) else result


def flaky_model_init(failures: int, error: type[Exception] = ValueError):
    """A model_init that raises `failures` times, then builds a TinyMLP; `calls` counts calls."""
    calls: list[int] = []

    def model_init() -> TinyMLP:
        calls.append(1)
        if len(calls) <= failures:
            raise error(f"weights unreadable (call {len(calls)})")
        return TinyMLP()

    model_init.calls = calls  # type: ignore[attr-defined]
    return model_init


async def test_reaches_ready_with_a_placed_model(machine, cpu_config, mlp_inputs):
    """All eleven phases run; the setup holds the given model on the accelerator's device."""
    init = machine(cpu_config, log=False, **mlp_inputs)
    assert init.state == INITIAL
    setup = await settle(init.run())
    assert init.state == READY and init.setup is setup
    assert setup.model is mlp_inputs["model"]
    assert next(setup.model.parameters()).device == setup.accelerator.device
    assert setup.label_names == ["labels"]
    assert setup.state.global_step == 0


async def test_events_arrive_in_seq_order_with_one_fact_per_phase(machine, cpu_config, mlp_inputs):
    """InitStarted, then Started/fact/Completed per phase in table order, then InitReady; seq gapless."""
    with capture_events() as events:
        await settle(machine(cpu_config, log=False, **mlp_inputs).run())
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[0].name == "InitStarted" and events[-1].name == "InitReady"
    body = events[1:-1]
    assert len(body) == 3 * len(TRIGGERS)
    for i, trigger in enumerate(TRIGGERS):
        started, fact, completed = body[3 * i : 3 * i + 3]
        assert isinstance(started, PhaseStarted) and started.phase == trigger
        assert isinstance(fact, FactEvent) and fact.phase == trigger
        assert isinstance(completed, PhaseCompleted) and completed.state == STATES[i + 1]


async def test_failing_model_init_fails_and_restores_the_context(machine, cpu_config):
    """A model_init error ends in Failed after Accelerated, with the model slot restored to empty."""
    init = machine(cpu_config, model_init=flaky_model_init(99), log=False)
    with capture_events() as events, pytest.raises(PhaseError, match=r"resolve_model.*weights unreadable"):
        await settle(init.run())
    assert init.state == FAILED
    assert init.failed_phase == "resolve_model" and init.last_good_state == "Accelerated"
    assert isinstance(init.error, ValueError)
    assert init.context.model is None and init.context.model_source is None
    assert init.context.accelerator is not None  # the completed phases keep their work
    rolled = events.of_type(PhaseRolledBack)
    assert [(e.phase, e.reason) for e in rolled] == [("resolve_model", "failed")]
    assert events.of_type(PhaseFailed)[-1].final is True
    assert isinstance(events[-1], InitFailed) and events[-1].last_good_state == "Accelerated"


async def test_retry_reruns_only_the_failed_phase_and_resume_reaches_ready(machine, cpu_config):
    """retry() re-runs resolve_model alone; resume() goes on to Ready without redoing seed."""
    model_init = flaky_model_init(1)
    init = machine(cpu_config, model_init=model_init, log=False)
    with capture_events() as events:
        with pytest.raises(PhaseError, match="resolve_model"):
            await settle(init.run())
        assert await settle(init.retry()) == "ModelResolved"
        assert init.failed_phase is None and init.error is None
        setup = await settle(init.resume())
    assert init.state == READY and isinstance(setup.model, TinyMLP)
    assert len(model_init.calls) == 2
    started = [e.phase for e in events.of_type(PhaseStarted)]
    assert started.count("seed") == 1 and started.count("resolve_model") == 2


async def test_resume_from_failed_retries_then_reaches_ready(machine, cpu_config):
    """resume() in Failed retries the failed phase first, then runs on to Ready."""
    init = machine(cpu_config, model_init=flaky_model_init(1), log=False)
    with pytest.raises(PhaseError):
        await settle(init.run())
    setup = await settle(init.resume())
    assert init.state == READY and setup is init.setup


async def test_transient_error_is_retried_by_the_policy(machine, cpu_config):
    """A ConnectionError in model_init is retried once (PhaseRetrying) and the set-up completes."""
    model_init = flaky_model_init(1, ConnectionError)
    init = machine(cpu_config, model_init=model_init, retry=RetryPolicy(initial_delay=0.001), log=False)
    with capture_events() as events:
        await settle(init.run())
    assert init.state == READY and len(model_init.calls) == 2
    retrying = events.of_type(PhaseRetrying)
    assert [(e.phase, e.attempt, e.error_type) for e in retrying] == [("resolve_model", 2, "ConnectionError")]


async def test_reconfigure_rolls_back_to_the_first_affected_phase(machine, cpu_config, mlp_inputs):
    """A label smoothing change rolls Ready back to Placed; resume re-runs introspect onwards only."""
    init = machine(cpu_config, log=False, **mlp_inputs)
    await settle(init.run())
    with capture_events() as events:
        assert await settle(init.reconfigure(label_smoothing_factor=0.1)) == "Placed"
        assert init.setup is None and init.context.label_smoother is None
        setup = await settle(init.resume())
    assert setup.label_smoother is not None and setup.label_smoother.epsilon == 0.1
    rerun = [e.phase for e in events.of_type(PhaseStarted)]
    assert rerun == list(TRIGGERS[TRIGGERS.index("introspect") :])
    assert events.names()[: len(rerun) + 1][-1] == "Reconfigured"


async def test_guard_rejection_changes_nothing(machine, cpu_config, mlp_inputs):
    """Both model and model_init: ConfigError naming the rule, no phase runs, the state stays."""
    init = machine(cpu_config, model_init=TinyMLP, log=False, **mlp_inputs)
    before = init.context.snapshot()
    with capture_events() as events, pytest.raises(ConfigError, match="both `model` and `model_init`"):
        await settle(init.run())
    assert init.state == INITIAL
    assert init.context.snapshot() == before
    assert events.names() == ["GuardRejected"]
    assert events.of_type(GuardRejected)[0].violations[0]["rule"] == "model.exactly_one"


async def test_step_runs_one_phase_at_a_time(machine, cpu_config, mlp_inputs):
    """step() moves exactly one state forward; at Ready it refuses with a StateError."""
    init = machine(cpu_config, log=False, **mlp_inputs)
    for spec in PHASES:
        assert init.next_trigger == spec.trigger
        assert await settle(init.step()) == spec.dest
    assert init.state == READY and init.setup is not None and init.next_trigger is None
    with pytest.raises(StateError, match="already Ready"):
        await settle(init.step())


async def test_step_in_failed_asks_for_retry_or_resume(machine, cpu_config):
    """In Failed, step() and run() raise a StateError that names retry() and resume()."""
    init = machine(cpu_config, model_init=flaky_model_init(99), log=False)
    with pytest.raises(PhaseError):
        await settle(init.run())
    with pytest.raises(StateError, match=r"retry\(\).*resume\(\)"):
        await settle(init.step())
    with pytest.raises(StateError, match=r"retry\(\)"):
        await settle(init.run())
    assert init.state == FAILED
