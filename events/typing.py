"""Aliases and protocols for what users plug into the event layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from events.types import Event

__all__ = ["AsyncSubscriber", "Sink", "Subscriber"]

Subscriber = Callable[[Event], Any]
"""A function called with each event it subscribed to; its return value is ignored."""

AsyncSubscriber = Callable[[Event], Awaitable[Any]]
"""A coroutine function subscriber (only with the async machine)."""


@runtime_checkable
class Sink(Protocol):
    """A subscriber with a lifetime: it is called per event and closed at the end."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...
