"""The event bus: stamps events and delivers them to subscribers in order.

Subscribers select events by class (``PhaseStarted``, or a base such as ``Event``),
by name (``"PhaseStarted"``) or by a glob over names (``"Phase*"``, ``"*"``). They run
in priority order (higher first; ties in registration order). A subscriber that raises
is isolated: the bus reports it as a `SubscriberFailed` event and goes on, unless the
bus is *strict*, in which case it raises `SubscriberError`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from events.exceptions import SubscriberError, SubscriptionError
from events.types import Event, SubscriberFailed

__all__ = ["EventBus", "Selector", "Subscription"]

# Lists that `events.testing.capture_events` is filling: every delivered event of every
# bus is appended to each of them.
_active_captures: list[list[Event]] = []

E = TypeVar("E", bound=Event)
Subscriber = Callable[[Any], Any]
Selector = type[Event] | str | Iterable[type[Event] | str]


def _describe(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}" if module else qualname


def _check_subscriber(fn: Any) -> None:
    if not callable(fn):
        msg = f"subscriber {fn!r} is not callable; pass a function that takes one event"
        raise SubscriptionError(msg)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(object())
    except TypeError:
        msg = (
            f"subscriber {_describe(fn)}{signature} cannot be called with one event; "
            "give it exactly one required positional parameter, e.g. `def on_event(event): ...`"
        )
        raise SubscriptionError(msg) from None


def _normalise_selector(selector: Selector) -> tuple[tuple[type[Event], ...], tuple[str, ...]]:
    items: Iterable[Any]
    items = (selector,) if isinstance(selector, (str, type)) else tuple(selector)
    classes: list[type[Event]] = []
    patterns: list[str] = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Event):
            classes.append(item)
        elif isinstance(item, str) and item:
            patterns.append(item)
        else:
            msg = (
                f"cannot subscribe to {item!r}: pass an Event class (e.g. PhaseStarted), "
                "an event name ('PhaseStarted') or a glob over names ('Phase*', '*')"
            )
            raise SubscriptionError(msg)
    return tuple(classes), tuple(patterns)


@dataclass(eq=False)
class Subscription:
    """A handle on one subscription: `remove()` it, or use it as a context manager."""

    fn: Subscriber
    classes: tuple[type[Event], ...]
    patterns: tuple[str, ...]
    priority: int
    once: bool
    where: Callable[[Any], bool] | None
    order: int
    _bus: EventBus | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Whether the subscriber still receives events."""
        return self._bus is not None

    def matches(self, event_type: type[Event]) -> bool:
        if self.classes and issubclass(event_type, self.classes):
            return True
        return any(fnmatch.fnmatchcase(event_type.name, p) for p in self.patterns)

    def remove(self) -> None:
        """Stop delivering events to this subscriber. Removing twice is harmless."""
        if self._bus is not None:
            self._bus._remove(self)
            self._bus = None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


class EventBus:
    """Delivers events to subscribers, in seq order, isolating failing subscribers.

    Args:
        run_id: identifier stamped on every event; a random one by default.
        rank: global rank stamped on every event (updated once the accelerator exists).
        world_size: number of processes, stamped likewise.
        strict: re-raise a subscriber's exception (as `SubscriberError`) instead of
            reporting it as `SubscriberFailed`; useful in tests.
    """

    #: whether coroutine functions may subscribe (the async bus says yes).
    accepts_coroutines = False

    def __init__(
        self,
        *,
        run_id: str | None = None,
        rank: int = 0,
        world_size: int = 1,
        strict: bool = False,
    ) -> None:
        self.run_id = run_id or uuid.uuid4().hex
        self.rank = rank
        self.world_size = world_size
        self.strict = strict
        self._subscriptions: list[Subscription] = []
        self._by_type: dict[type[Event], list[Subscription]] = {}
        self._order = itertools.count()
        self._seq = itertools.count()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ subscribing

    @overload
    def subscribe(
        self,
        selector: Selector,
        fn: None = None,
        *,
        priority: int = 0,
        once: bool = False,
        where: Callable[[Any], bool] | None = None,
    ) -> Callable[[Subscriber], Subscriber]: ...

    @overload
    def subscribe(
        self,
        selector: Selector,
        fn: Subscriber,
        *,
        priority: int = 0,
        once: bool = False,
        where: Callable[[Any], bool] | None = None,
    ) -> Subscription: ...

    def subscribe(
        self,
        selector: Selector,
        fn: Subscriber | None = None,
        *,
        priority: int = 0,
        once: bool = False,
        where: Callable[[Any], bool] | None = None,
    ) -> Subscription | Callable[[Subscriber], Subscriber]:
        """Deliver events matching `selector` to `fn`; returns a removable handle.

        Without `fn` it is a decorator: ``@bus.subscribe("Phase*")`` (the decorated
        function is returned unchanged; its handle is ``fn.subscription``).

        Args:
            selector: an Event class, a name, a glob over names, or several of them.
            fn: called with each matching event.
            priority: higher runs earlier among the subscribers of one event.
            once: remove the subscription after its first delivery.
            where: a predicate over the event; the subscriber only sees events for
                which it returns true.
        """
        classes, patterns = _normalise_selector(selector)
        if fn is None:

            def decorator(func: Subscriber) -> Subscriber:
                handle = self.subscribe(selector, func, priority=priority, once=once, where=where)
                with contextlib.suppress(AttributeError):  # bound methods and builtins
                    func.subscription = handle  # type: ignore[attr-defined]
                return func

            return decorator
        _check_subscriber(fn)
        if where is not None:
            _check_subscriber(where)
        if inspect.iscoroutinefunction(fn) and not self.accepts_coroutines:
            msg = (
                f"subscriber {_describe(fn)} is a coroutine function; the synchronous bus cannot "
                "await it. Use fsm.AsyncTrainerInit, or subscribe a plain function"
            )
            raise SubscriptionError(msg)
        sub = Subscription(
            fn=fn,
            classes=classes,
            patterns=patterns,
            priority=priority,
            once=once,
            where=where,
            order=next(self._order),
            _bus=self,
        )
        with self._lock:
            self._subscriptions.append(sub)
            self._by_type.clear()
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)
                self._by_type.clear()

    def subscribers_for(self, event_type: type[Event]) -> list[Subscription]:
        """The subscriptions that receive `event_type`, in the order they run."""
        subs = self._by_type.get(event_type)
        if subs is None:
            with self._lock:
                subs = sorted(
                    (s for s in self._subscriptions if s.matches(event_type)),
                    key=lambda s: (-s.priority, s.order),
                )
                self._by_type[event_type] = subs
        return subs

    # ------------------------------------------------------------ emitting

    def stamp(self, event_type: type[E], /, *, phase: str | None = None, attempt: int = 0, **payload: Any) -> E:
        """Build an event of `event_type` with a full envelope, without delivering it."""
        return event_type(
            run_id=self.run_id,
            seq=next(self._seq),
            time=time.time(),
            monotonic=time.monotonic(),
            rank=self.rank,
            world_size=self.world_size,
            phase=phase,
            attempt=attempt,
            **payload,
        )

    def emit(self, event_type: type[E], /, *, phase: str | None = None, attempt: int = 0, **payload: Any) -> E:
        """Build an event of `event_type` and deliver it; returns the event."""
        event = self.stamp(event_type, phase=phase, attempt=attempt, **payload)
        self.deliver(event)
        return event

    def publish(self, event: E, /, *, phase: str | None = None, attempt: int = 0) -> E:
        """Stamp a payload-only event (as a phase returns it) and deliver it."""
        stamped = self.stamp(type(event), phase=phase, attempt=attempt, **event.payload)
        self.deliver(stamped)
        return stamped

    def deliver(self, event: Event) -> None:
        """Run every matching subscriber on an already stamped event."""
        for captured in _active_captures:
            captured.append(event)
        for sub in self.subscribers_for(type(event)):
            if sub._bus is None:  # removed while this event was being delivered
                continue
            try:
                if sub.where is not None and not sub.where(event):
                    continue
                if sub.once:
                    sub.remove()
                sub.fn(event)
            except Exception as exc:
                self._subscriber_failed(sub, event, exc)

    def _subscriber_failed(self, sub: Subscription, event: Event, exc: BaseException) -> None:
        if self.strict:
            msg = f"subscriber {_describe(sub.fn)} raised on {event.name}: {exc}"
            raise SubscriberError(msg) from exc
        if isinstance(event, SubscriberFailed):  # never report a reporter's failure in a loop
            return
        self.emit(
            SubscriberFailed,
            phase=event.phase,
            attempt=event.attempt,
            subscriber=_describe(sub.fn),
            event_name=event.name,
            error_type=type(exc).__name__,
            error=str(exc),
        )
