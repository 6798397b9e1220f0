"""capture_events(): what users' own tests get."""

from __future__ import annotations

from events import EventBus, PhaseStarted, SeedSet
from events.testing import capture_events


def test_capture_sees_every_bus_without_subscribing():
    """Events of any bus delivered in the block are recorded, in order."""
    with capture_events() as events:
        EventBus().emit(PhaseStarted, phase="seed")
        EventBus().emit(SeedSet, phase="seed", seed=3)
    assert events.names() == ["PhaseStarted", "SeedSet"]
    assert events.of_type(SeedSet)[0].seed == 3
    assert len(events.for_phase("seed")) == 2


def test_capture_stops_at_the_end_of_the_block_and_nests():
    """Nothing is recorded after the block; an inner capture sees only its own block."""
    bus = EventBus()
    with capture_events() as outer:
        bus.emit(PhaseStarted)
        with capture_events() as inner:
            bus.emit(PhaseStarted)
    bus.emit(PhaseStarted)
    assert len(outer) == 2 and len(inner) == 1
