"""The event bus: selection, order, priorities, handles, isolation of failing subscribers."""

from __future__ import annotations

import pytest

from events import (
    Event,
    EventBus,
    PhaseCompleted,
    PhaseStarted,
    SeedSet,
    SubscriberError,
    SubscriberFailed,
    SubscriptionError,
)


def test_subscribe_by_class_name_and_glob():
    """A class, an exact name and a glob each select the right events."""
    bus = EventBus()
    by_class, by_name, by_glob = [], [], []
    bus.subscribe(PhaseStarted, by_class.append)
    bus.subscribe("PhaseCompleted", by_name.append)
    bus.subscribe("Phase*", by_glob.append)
    bus.emit(PhaseStarted, phase="seed")
    bus.emit(PhaseCompleted, phase="seed")
    bus.emit(SeedSet, phase="seed", seed=1)
    assert [e.name for e in by_class] == ["PhaseStarted"]
    assert [e.name for e in by_name] == ["PhaseCompleted"]
    assert [e.name for e in by_glob] == ["PhaseStarted", "PhaseCompleted"]


def test_base_class_selects_every_event():
    """Subscribing to Event receives all events, in seq order without gaps."""
    bus = EventBus()
    seen = []
    bus.subscribe(Event, seen.append)
    for _ in range(5):
        bus.emit(PhaseStarted)
    assert [e.seq for e in seen] == [0, 1, 2, 3, 4]


def test_envelope_is_stamped():
    """run_id, rank, world_size, phase and attempt are stamped on emitted events."""
    bus = EventBus(run_id="r1", rank=3, world_size=4)
    event = bus.emit(PhaseStarted, phase="place", attempt=2, source="A", dest="B")
    assert (event.run_id, event.rank, event.world_size, event.phase, event.attempt) == ("r1", 3, 4, "place", 2)
    assert event.time > 0 and event.monotonic > 0


def test_publish_stamps_a_payload_only_event():
    """publish() keeps the payload of a fact event and adds the envelope."""
    bus = EventBus(run_id="r2")
    stamped = bus.publish(SeedSet(seed=7), phase="seed", attempt=1)
    assert stamped.seed == 7 and stamped.run_id == "r2" and stamped.seq == 0


def test_priority_orders_subscribers_ties_by_registration():
    """Higher priority runs first; equal priorities run in registration order."""
    bus = EventBus()
    order = []
    bus.subscribe("*", lambda e: order.append("low"), priority=-1)
    bus.subscribe("*", lambda e: order.append("a"))
    bus.subscribe("*", lambda e: order.append("high"), priority=5)
    bus.subscribe("*", lambda e: order.append("b"))
    bus.emit(PhaseStarted)
    assert order == ["high", "a", "b", "low"]


def test_once_and_where():
    """once=True delivers one event; where= filters by predicate."""
    bus = EventBus()
    first, seeded = [], []
    bus.subscribe("*", first.append, once=True)
    bus.subscribe(Event, seeded.append, where=lambda e: e.phase == "seed")
    bus.emit(PhaseStarted, phase="seed")
    bus.emit(PhaseStarted, phase="place")
    assert len(first) == 1
    assert [e.phase for e in seeded] == ["seed"]


def test_handle_removes_and_works_as_context_manager():
    """The returned handle unsubscribes, also when used with `with`."""
    bus = EventBus()
    seen = []
    with bus.subscribe("*", seen.append) as handle:
        bus.emit(PhaseStarted)
        assert handle.active
    bus.emit(PhaseStarted)
    assert len(seen) == 1 and not handle.active
    handle.remove()  # twice is harmless


def test_decorator_form():
    """@bus.subscribe(...) registers the function and keeps it usable."""
    bus = EventBus()
    seen = []

    @bus.subscribe(PhaseStarted, priority=1)
    def on_started(event):
        seen.append(event.phase)

    bus.emit(PhaseStarted, phase="seed")
    assert seen == ["seed"]
    on_started.subscription.remove()
    bus.emit(PhaseStarted, phase="place")
    assert seen == ["seed"]


@pytest.mark.parametrize(
    "fn",
    [lambda: None, lambda a, b: None, 42],
    ids=["no-arg", "two-args", "not-callable"],
)
def test_subscribers_are_checked_at_registration(fn):
    """A subscriber that cannot take one event is rejected when it registers."""
    with pytest.raises(SubscriptionError, match="subscriber"):
        EventBus().subscribe("*", fn)


def test_bad_selector_is_rejected():
    """Something that is neither an Event class nor a name is rejected with the accepted forms."""
    with pytest.raises(SubscriptionError, match="Event class"):
        EventBus().subscribe(int, print)


def test_coroutine_subscriber_needs_the_async_machine():
    """The sync bus refuses coroutine functions and points at AsyncTrainerInit."""

    async def on_event(event):
        return None

    with pytest.raises(SubscriptionError, match="AsyncTrainerInit"):
        EventBus().subscribe("*", on_event)


def test_failing_subscriber_is_isolated_and_reported():
    """A raising subscriber does not stop the others; SubscriberFailed reports it."""
    bus = EventBus()
    failures, later = [], []

    def broken(event):
        raise ValueError("boom")

    bus.subscribe(SubscriberFailed, failures.append)
    bus.subscribe(PhaseStarted, broken, priority=1)
    bus.subscribe(PhaseStarted, later.append)
    bus.emit(PhaseStarted, phase="seed")
    assert len(later) == 1
    assert failures[0].event_name == "PhaseStarted"
    assert failures[0].error_type == "ValueError" and failures[0].error == "boom"
    assert "broken" in failures[0].subscriber
    assert failures[0].phase == "seed"


def test_failing_failure_subscriber_does_not_loop():
    """A subscriber that raises on SubscriberFailed too is not reported endlessly."""
    bus = EventBus()
    calls = []

    def always_broken(event):
        calls.append(event.name)
        raise RuntimeError("again")

    bus.subscribe("*", always_broken)
    bus.emit(PhaseStarted)
    assert calls == ["PhaseStarted", "SubscriberFailed"]


def test_strict_bus_reraises():
    """strict=True turns a subscriber's exception into SubscriberError with the cause."""
    bus = EventBus(strict=True)
    bus.subscribe("*", lambda e: 1 / 0)
    with pytest.raises(SubscriberError, match="raised on PhaseStarted") as info:
        bus.emit(PhaseStarted)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_subscribing_during_delivery_takes_effect_next_event():
    """A subscriber added while an event is delivered sees the following events only."""
    bus = EventBus()
    late = []

    def adder(event):
        if not late:
            bus.subscribe("*", late.append)

    bus.subscribe("*", adder)
    bus.emit(PhaseStarted)
    assert late == []
    bus.emit(PhaseCompleted)
    assert [e.name for e in late] == ["PhaseCompleted"]
