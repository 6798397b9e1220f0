"""AsyncTrainerInit: coroutine phases and subscribers, threads for blocking phases,
timed-out subscribers, cancellation at every phase, a responsive event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import torch

from events import EventBus, PhaseRolledBack, PhaseStarted, SubscriberFailed
from events.async_bus import AsyncEventBus
from events.testing import capture_events
from fsm import INITIAL, PHASES, READY, TRIGGERS, AsyncTrainerInit, ConfigError, StateError, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP
from handlers import default_phases
from handlers.base import Phase

pytestmark = pytest.mark.asyncio


class AsyncPhase:
    """A coroutine phase: does the built-in phase's real work, then awaits `gate` (if any).

    `entered` is set once the real work is done, so a test can cancel deterministically
    while the phase is under way (its effects made, not yet completed).
    """

    def __init__(self, trigger: str, gate: asyncio.Event | None = None) -> None:
        self.inner = default_phases()[trigger]
        self.trigger = trigger
        self.reads = self.inner.reads
        self.gate = gate
        self.entered = asyncio.Event()
        self.threads: list[int] = []
        self.before: dict | None = None

    async def run(self, ctx):
        self.threads.append(threading.get_ident())
        if self.before is None:
            self.before = ctx.snapshot()
        await asyncio.sleep(0)
        fact = self.inner.run(ctx)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return fact

    def rollback(self, ctx):
        self.inner.rollback(ctx)


class ThreadRecordingPhase:
    """A plain (blocking) phase wrapping the built-in one; records the thread it ran in."""

    def __init__(self, trigger: str) -> None:
        self.inner = default_phases()[trigger]
        self.trigger = trigger
        self.reads = self.inner.reads
        self.threads: list[int] = []

    def run(self, ctx):
        self.threads.append(threading.get_ident())
        return self.inner.run(ctx)

    def rollback(self, ctx):
        self.inner.rollback(ctx)


async def test_async_phases_and_subscribers_reach_ready(cpu_config, mlp_inputs):
    """Coroutine phases run on the loop, plain ones in a worker thread; async subscribers see every event."""
    loop_thread = threading.get_ident()
    phases = {t: AsyncPhase(t) if i % 2 == 0 else ThreadRecordingPhase(t) for i, t in enumerate(TRIGGERS)}
    init = AsyncTrainerInit(cpu_config, handlers=phases, log=False, **mlp_inputs)
    seen: list[tuple[int, int]] = []

    async def on_event(event):
        await asyncio.sleep(0)
        seen.append((event.seq, threading.get_ident()))

    init.bus.subscribe("*", on_event)
    with capture_events() as events:
        setup = await init.run()
    assert init.state == READY and setup.model is mlp_inputs["model"]
    assert [seq for seq, _ in seen] == [e.seq for e in events] == list(range(len(events)))
    assert {thread for _, thread in seen} == {loop_thread}
    for i, trigger in enumerate(TRIGGERS):
        if i % 2 == 0:
            assert phases[trigger].threads == [loop_thread]
        else:
            assert len(phases[trigger].threads) == 1 and phases[trigger].threads[0] != loop_thread


async def test_many_subscribers_keep_seq_and_priority_order_through_a_set_up(cpu_config, mlp_inputs):
    """Twenty subscribers of mixed kinds and priorities: seq-major, priority-minor, never overlapping."""
    init = AsyncTrainerInit(cpu_config, log=False, **mlp_inputs)
    log: list[tuple[str, int, int]] = []
    priorities = [(i * 7) % 5 - 2 for i in range(20)]

    def make(index: int, priority: int):
        if index % 3 == 0:

            def plain(event):
                log.append(("start", event.seq, index))
                log.append(("end", event.seq, index))

            return plain

        async def coro(event):
            log.append(("start", event.seq, index))
            for _ in range(index % 4):
                await asyncio.sleep(0)
            log.append(("end", event.seq, index))

        return coro

    for index, priority in enumerate(priorities):
        init.bus.subscribe("*", make(index, priority), priority=priority)
    with capture_events() as events:
        await init.run()
    by_priority = sorted(range(20), key=lambda i: (-priorities[i], i))
    expected = [(kind, e.seq, i) for e in events for i in by_priority for kind in ("start", "end")]
    assert log == expected


async def test_timed_out_subscriber_is_reported_and_the_set_up_completes(cpu_config, mlp_inputs):
    """A subscriber that never finishes (even ignoring cancellation) is reported; Ready is reached."""
    release = asyncio.Event()

    async def stubborn(event):
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores its cancellation: must not stall the set-up either

    async def failing(event):
        raise ValueError("dashboard unreachable")

    bus = AsyncEventBus(timeout=None)
    init = AsyncTrainerInit(cpu_config, bus=bus, log=False, **mlp_inputs)
    bus.subscribe(PhaseStarted, stubborn, once=True, timeout=0.05)
    bus.subscribe("InitStarted", failing)
    with capture_events() as events:
        await asyncio.wait_for(init.run(), timeout=60)
    release.set()
    assert init.state == READY
    failed = events.of_type(SubscriberFailed)
    assert [(f.event_name, f.error_type) for f in failed] == [
        ("InitStarted", "ValueError"),
        ("PhaseStarted", "TimeoutError"),
    ]
    assert "stubborn" in failed[1].subscriber and "within 0.05 s" in failed[1].error
    assert failed[0].error == "dashboard unreachable"


@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_cancelling_mid_phase_rolls_it_back_and_resume_reaches_ready(trigger, cpu_config, mlp_inputs):
    """Cancelled after a phase's real work: it is undone, the state is the last completed one, resume goes on."""
    spec = PHASES[TRIGGERS.index(trigger)]
    gate = asyncio.Event()
    phase = AsyncPhase(trigger, gate)
    init = AsyncTrainerInit(cpu_config, handlers={trigger: phase}, log=False, **mlp_inputs)
    rng_before = torch.get_rng_state()
    with capture_events() as events:
        task = asyncio.create_task(init.run())
        await asyncio.wait_for(phase.entered.wait(), timeout=30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert init.state == spec.source
    assert init.failed_phase is None and init.setup is None
    assert init.context.snapshot() == phase.before
    assert [(e.phase, e.reason) for e in events.of_type(PhaseRolledBack)] == [(trigger, "cancelled")]
    assert events[-1].name == "PhaseRolledBack"
    if trigger == "seed":
        assert torch.equal(torch.get_rng_state(), rng_before)
    if trigger == "prepare_output":
        assert not Path(cpu_config.output_dir).exists()
    gate.set()
    setup = await init.resume()
    assert init.state == READY and setup.model is mlp_inputs["model"]
    assert Path(cpu_config.output_dir).is_dir()


async def test_cancelling_a_blocking_phase_waits_for_its_thread_then_rolls_back(cpu_config):
    """Cancel during a model_init running in a thread: the rollback waits for it; state stays Accelerated."""
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def model_init():
        calls.append(1)
        started.set()
        release.wait(timeout=30)
        return TinyMLP()

    init = AsyncTrainerInit(cpu_config, model_init=model_init, train_dataset=SyntheticRegression(32), log=False)
    task = asyncio.create_task(init.run())
    assert await asyncio.to_thread(started.wait, 30)
    task.cancel()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()  # still waiting for the thread: phases never overlap their rollback
    assert init.state == "Accelerated"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert init.state == "Accelerated" and init.context.model is None
    setup = await init.resume()
    assert init.state == READY and isinstance(setup.model, TinyMLP) and len(calls) == 2


async def test_the_loop_keeps_serving_during_a_slow_blocking_model_init(cpu_config):
    """model_init blocks until a ticker task has ticked five more times: only a free loop lets it return."""
    ticks = 0
    armed: list[int] = []  # the tick count when model_init began
    ticked = threading.Event()
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            if armed and ticks >= armed[0] + 5:
                ticked.set()
            await asyncio.sleep(0.001)

    def model_init():
        armed.append(ticks)
        if not ticked.wait(timeout=30):
            raise AssertionError("the event loop was blocked while model_init ran")
        return TinyMLP()

    ticking = asyncio.create_task(ticker())
    init = AsyncTrainerInit(cpu_config, model_init=model_init, train_dataset=SyntheticRegression(32), log=False)
    await init.run()
    stop.set()
    await ticking
    assert init.state == READY and ticks >= armed[0] + 5


async def test_timeout_around_run_cancels_cleanly(cpu_config, mlp_inputs):
    """asyncio.wait_for around run(): TimeoutError reaches the caller; the machine is left consistent."""
    phase = AsyncPhase("place", asyncio.Event())
    init = AsyncTrainerInit(cpu_config, handlers={"place": phase}, log=False, **mlp_inputs)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(init.run(), timeout=0.5)
    assert init.state == "StrategyResolved" and init.context.model_moved is False
    phase.gate.set()
    await init.resume()
    assert init.state == READY


async def test_a_second_driver_is_refused_while_one_runs(cpu_config, mlp_inputs):
    """step() from another task while run() is under way raises StateError and changes nothing."""
    phase = AsyncPhase("introspect", asyncio.Event())
    init = AsyncTrainerInit(cpu_config, handlers={"introspect": phase}, log=False, **mlp_inputs)
    task = asyncio.create_task(init.run())
    await asyncio.wait_for(phase.entered.wait(), timeout=30)
    with pytest.raises(StateError, match="driven by another task"):
        await init.step()
    phase.gate.set()
    await task
    assert init.state == READY


async def test_sync_machine_refuses_coroutine_phases_and_async_buses(cpu_config, mlp_inputs):
    """TrainerInit rejects a coroutine run() and an AsyncEventBus, naming AsyncTrainerInit / the bus."""
    with pytest.raises(ConfigError, match=r"handlers\['seed'\]\.run is a coroutine.*AsyncTrainerInit"):
        TrainerInit(cpu_config, handlers={"seed": AsyncPhase("seed")}, **mlp_inputs)
    with pytest.raises(ConfigError, match="bus: TrainerInit delivers events on a EventBus, not a AsyncEventBus"):
        TrainerInit(cpu_config, bus=AsyncEventBus(), **mlp_inputs)


async def test_async_machine_refuses_a_sync_bus_and_coroutine_rollbacks(cpu_config, mlp_inputs):
    """AsyncTrainerInit needs an AsyncEventBus, and rollbacks that undo at once."""

    class AsyncRollback(Phase):
        trigger = "seed"

        def run(self, ctx):  # pragma: no cover - never reached
            raise AssertionError

        async def rollback(self, ctx):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(ConfigError, match="bus: AsyncTrainerInit delivers events on a AsyncEventBus, not a EventBus"):
        AsyncTrainerInit(cpu_config, bus=EventBus(), **mlp_inputs)
    with pytest.raises(ConfigError, match=r"handlers\['seed'\]\.rollback is a coroutine function"):
        AsyncTrainerInit(cpu_config, handlers={"seed": AsyncRollback()}, **mlp_inputs)
    init = AsyncTrainerInit(cpu_config, **mlp_inputs)
    assert init.state == INITIAL and isinstance(init.bus, AsyncEventBus)


class SlowAgreement(AsyncTrainerInit):
    """Ranks that take a while to agree on `place` (as a slow peer would); the real hook follows."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.agreeing, self.agreed = threading.Event(), threading.Event()
        self.agree_threads: list[int] = []

    def _agree(self, spec, attempt, error):
        self.agree_threads.append(threading.get_ident())
        if spec.trigger == "place":
            self.agreeing.set()
            self.agreed.wait(timeout=30)
        return super()._agree(spec, attempt, error)


async def test_agreement_runs_off_the_loop_and_a_cancel_meanwhile_undoes_the_phase(cpu_config, mlp_inputs):
    """Settling a phase (agreement, rollback) runs in a thread; cancelled then, the completed phase is undone."""
    init = SlowAgreement(cpu_config, log=False, **mlp_inputs)
    with capture_events() as events:
        task = asyncio.create_task(init.run())
        assert await asyncio.to_thread(init.agreeing.wait, 30)  # the loop serves while the ranks agree
        task.cancel()
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done()
        init.agreed.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert threading.get_ident() not in init.agree_threads
    assert init.state == "StrategyResolved" and init.context.model_moved is False
    assert [(e.phase, e.reason) for e in events.of_type(PhaseRolledBack)] == [("place", "cancelled")]
    assert "ModelPlaced" in events.names()  # the phase had completed: its fact was out before the undo
    await init.resume()
    assert init.state == READY
