"""AsyncEventBus: seq order per subscriber and priority order within an event under many
concurrent subscribers and emitting threads; timeouts; strict mode; re-entrant drains."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import (
    InitStarted,
    PhaseCompleted,
    PhaseStarted,
    SubscriberError,
    SubscriberFailed,
    SubscriptionError,
)
from events.async_bus import AsyncEventBus
from events.bus import EventBus
from events.testing import capture_events

subscriber_specs = st.lists(
    st.tuples(
        st.integers(min_value=-3, max_value=3),  # priority
        st.sampled_from(["plain", "coroutine"]),
        st.integers(min_value=0, max_value=3),  # loop iterations a coroutine yields
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=subscriber_specs,
    batches=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    from_thread=st.booleans(),
)
def test_order_holds_under_many_concurrent_subscribers(specs, batches, from_thread):
    """Whatever the subscribers and emitters, delivery is seq-major, priority-minor and never overlaps."""
    log: list[tuple[str, int, int]] = []

    def make(index: int, kind: str, yields: int):
        if kind == "plain":

            def plain(event):
                log.append(("start", event.seq, index))
                log.append(("end", event.seq, index))

            return plain

        async def coro(event):
            log.append(("start", event.seq, index))
            for _ in range(yields):
                await asyncio.sleep(0)
            log.append(("end", event.seq, index))

        return coro

    async def scenario() -> list[int]:
        bus = AsyncEventBus()
        for index, (priority, kind, yields) in enumerate(specs):
            bus.subscribe("*", make(index, kind, yields), priority=priority)

        def emit_batch(size: int) -> None:
            for _ in range(size):
                bus.emit(PhaseStarted, phase="seed")

        drains = []
        for size in batches:  # emitters and deliveries overlap: drains start while events arrive
            if from_thread:
                await asyncio.to_thread(emit_batch, size)
            else:
                emit_batch(size)
            drains.append(asyncio.create_task(bus.drain()))
            await asyncio.sleep(0)
        await asyncio.gather(*drains)
        await bus.drain()
        assert bus.pending == 0
        return list(range(sum(batches)))

    seqs = asyncio.run(scenario())
    order = sorted(range(len(specs)), key=lambda i: (-specs[i][0], i))
    assert log == [(kind, seq, i) for seq in seqs for i in order for kind in ("start", "end")]


@pytest.mark.asyncio
async def test_events_emitted_in_a_thread_are_delivered_on_the_loop_thread():
    """emit() from a worker thread only queues; drain() runs subscribers on the loop's thread."""
    bus = AsyncEventBus()
    threads: list[int] = []
    bus.subscribe("*", lambda e: threads.append(threading.get_ident()))
    await asyncio.to_thread(lambda: [bus.emit(InitStarted) for _ in range(3)])
    assert threads == [] and bus.pending == 3
    await bus.drain()
    assert threads == [threading.get_ident()] * 3 and bus.pending == 0


@pytest.mark.asyncio
async def test_slow_subscriber_times_out_and_the_next_one_still_runs():
    """A coroutine past the bus timeout is cancelled and reported; lower-priority subscribers still run."""
    bus = AsyncEventBus(timeout=0.02)
    cancelled = asyncio.Event()
    after: list[int] = []

    async def slow(event):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    bus.subscribe(PhaseStarted, slow, priority=5)
    bus.subscribe(PhaseStarted, lambda e: after.append(e.seq))
    with capture_events() as events:
        bus.emit(PhaseStarted, phase="seed")
        await bus.drain()
    assert after == [0]
    await asyncio.wait_for(cancelled.wait(), timeout=5)
    failed = events.of_type(SubscriberFailed)
    assert len(failed) == 1 and failed[0].error_type == "TimeoutError" and failed[0].event_name == "PhaseStarted"
    assert "within 0.02 s" in failed[0].error and failed[0].phase == "seed"


@pytest.mark.asyncio
async def test_strict_bus_raises_a_subscribers_error_from_drain():
    """On a strict bus a failing coroutine subscriber surfaces as SubscriberError from drain()."""
    bus = AsyncEventBus(strict=True)

    async def broken(event):
        raise KeyError("missing field")

    bus.subscribe(PhaseCompleted, broken)
    bus.emit(PhaseCompleted, phase="seed")
    with pytest.raises(SubscriberError, match="broken raised on PhaseCompleted"):
        await bus.drain()


@pytest.mark.asyncio
async def test_a_subscriber_that_emits_and_drains_does_not_deadlock():
    """Events emitted by a subscriber are delivered after the current one; its own drain() returns at once."""
    bus = AsyncEventBus()
    seen: list[str] = []

    async def chain(event):
        seen.append(event.name)
        if isinstance(event, InitStarted):
            bus.emit(PhaseStarted, phase="seed")
            await bus.drain()
            seen.append("drained")

    bus.subscribe("*", chain)
    bus.subscribe("*", lambda e: seen.append(f"after {e.name}"), priority=-1)
    bus.emit(InitStarted)
    await asyncio.wait_for(bus.drain(), timeout=5)
    assert seen == ["InitStarted", "drained", "after InitStarted", "PhaseStarted", "after PhaseStarted"]


@pytest.mark.asyncio
async def test_cancelling_a_drain_does_not_cut_a_delivery_short():
    """A caller cancelled mid-drain leaves the delivery running; the next drain() finishes it in order."""
    bus = AsyncEventBus()
    gate = asyncio.Event()
    seen: list[int] = []

    async def gated(event):
        await gate.wait()
        seen.append(event.seq)

    bus.subscribe("*", gated)
    for _ in range(3):
        bus.emit(PhaseStarted, phase="seed")
    caller = asyncio.create_task(bus.drain())
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    gate.set()
    await bus.drain()
    assert seen == [0, 1, 2]


def test_timeouts_are_checked_where_they_are_given():
    """A timeout that is not a positive number is refused, naming the argument; inf means no limit."""
    with pytest.raises(ValueError, match=r"AsyncEventBus: timeout=0 must be a number of seconds > 0"):
        AsyncEventBus(timeout=0)
    bus = AsyncEventBus(timeout=float("inf"))
    assert bus.timeout is None
    with pytest.raises(ValueError, match=r"subscribe: timeout=-1 must be"):
        bus.subscribe("*", lambda e: None, timeout=-1)
    with pytest.raises(ValueError, match=r"AsyncEventBus.timeout: timeout='1' must be"):
        bus.timeout = "1"  # type: ignore[assignment]
    assert bus.timeout is None


def test_only_the_async_bus_takes_coroutine_subscribers():
    """EventBus refuses a coroutine function at subscribe time; AsyncEventBus takes it."""

    async def on_event(event):
        return None

    with pytest.raises(SubscriptionError, match="coroutine function"):
        EventBus().subscribe("*", on_event)
    assert AsyncEventBus().subscribe("*", on_event).active
