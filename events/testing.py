"""Helpers for users' own tests: record the events a set-up emits.

from events.testing import capture_events

with capture_events() as events:
    TrainerInit(config, model=model).run()
assert events.names()[-1] == "InitReady"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from events import bus as _bus
from events.types import Event

__all__ = ["CapturedEvents", "capture_events"]

E = TypeVar("E", bound=Event)


class CapturedEvents(list[Event]):
    """The events delivered while capturing, in delivery order, with a few look-ups."""

    def names(self) -> list[str]:
        """Event names in order, e.g. ``["InitStarted", "PhaseStarted", ...]``."""
        return [e.name for e in self]

    def of_type(self, event_type: type[E]) -> list[E]:
        """The events that are instances of `event_type`."""
        return [e for e in self if isinstance(e, event_type)]

    def for_phase(self, phase: str) -> list[Event]:
        """The events stamped with the phase (trigger) `phase`."""
        return [e for e in self if e.phase == phase]


@contextmanager
def capture_events() -> Iterator[CapturedEvents]:
    """Record every event delivered by any bus while the block runs.

    Nothing needs to be subscribed: the capture sees the events as the bus delivers
    them, before the subscribers run, so it also sees events that no one subscribed to.
    Captures nest; each sees the events of its own block.
    """
    captured = CapturedEvents()
    _bus._active_captures.append(captured)
    try:
        yield captured
    finally:
        _bus._active_captures.remove(captured)
