"""The async bus: the same subscriptions as `EventBus`, delivered by awaiting.

`emit()` stays a plain, thread-safe call: it stamps the event and queues it. `await
bus.drain()` delivers what is queued, on the event loop's thread, one event at a time:

* every subscriber sees the events in seq order, and the subscribers of one event run
  one after another in priority order (higher first), never concurrently;
* a coroutine subscriber is awaited for at most its timeout (the bus's `timeout`, or
  the one given to `subscribe`); one that takes longer is cancelled and reported as a
  `SubscriberFailed` (``error_type="TimeoutError"``), like one that raises, and the
  delivery goes on;
* plain subscribers are called inline on the loop's thread (keep them quick: a plain
  function cannot be timed out).

`fsm.AsyncTrainerInit` drains the bus before each phase's work begins and before each
of its coroutines returns, so a subscriber has seen ``PhaseStarted`` before the phase
runs, and every event of a ``run()`` before ``run()`` returns.

    bus = AsyncEventBus(timeout=2.0)

    @bus.subscribe("Phase*")
    async def post(event):
        await client.post("/progress", json=event.to_dict())
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from events import bus as _bus
from events.bus import EventBus, Selector, Subscriber, Subscription
from events.types import Event

if TYPE_CHECKING:  # asyncio is imported where it is used: `import fsm` stays cheap
    import asyncio

__all__ = ["DEFAULT_TIMEOUT", "AsyncEventBus"]

E = TypeVar("E", bound=Event)

DEFAULT_TIMEOUT = 10.0
"""Seconds a coroutine subscriber may take per event, unless told otherwise."""

# The bus whose delivery the current code runs inside (subscribers' tasks inherit it).
_delivering: contextvars.ContextVar[AsyncEventBus | None] = contextvars.ContextVar("_delivering", default=None)


def _checked_timeout(value: float | None, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        msg = f"{where}: timeout={value!r} must be a number of seconds > 0, or None for no limit"
        raise ValueError(msg)
    return None if math.isinf(value) else float(value)


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    # A subscriber cancelled for its timeout may still end with an error of its own;
    # retrieve it so asyncio does not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


class AsyncEventBus(EventBus):
    """An `EventBus` whose subscribers may be coroutine functions; deliver with `drain()`.

    Args:
        run_id, rank, world_size, strict: as for `EventBus`.
        timeout: seconds a coroutine subscriber may take per event before it is
            cancelled and reported as `SubscriberFailed` (None: no limit).
    """

    accepts_coroutines = True

    def __init__(
        self,
        *,
        run_id: str | None = None,
        rank: int = 0,
        world_size: int = 1,
        strict: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(run_id=run_id, rank=rank, world_size=world_size, strict=strict)
        self._timeout = _checked_timeout(timeout, "AsyncEventBus")
        self._timeouts: dict[Subscription, float | None] = {}
        self._pending: deque[Event] = deque()
        self._emit_lock = threading.Lock()
        self._pump: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> float | None:
        """Seconds a coroutine subscriber may take per event (None: no limit)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = _checked_timeout(value, "AsyncEventBus.timeout")

    @property
    def pending(self) -> int:
        """How many emitted events wait for `drain()`."""
        return len(self._pending)

    # ------------------------------------------------------------ subscribing

    def subscribe(  # type: ignore[override]
        self,
        selector: Selector,
        fn: Subscriber | None = None,
        *,
        priority: int = 0,
        once: bool = False,
        where: Callable[[Any], bool] | None = None,
        timeout: float | None = None,
    ) -> Subscription | Callable[[Subscriber], Subscriber]:
        """As `EventBus.subscribe`; `timeout` overrides the bus's timeout for `fn`."""
        checked = _checked_timeout(timeout, "subscribe")
        if fn is None:

            def decorator(func: Subscriber) -> Subscriber:
                handle = self.subscribe(selector, func, priority=priority, once=once, where=where, timeout=timeout)
                with contextlib.suppress(AttributeError):  # bound methods and builtins
                    func.subscription = handle  # type: ignore[attr-defined]
                return func

            return decorator
        handle = super().subscribe(selector, fn, priority=priority, once=once, where=where)
        if timeout is not None:
            self._timeouts[handle] = checked
        return handle

    def _remove(self, sub: Subscription) -> None:
        super()._remove(sub)
        self._timeouts.pop(sub, None)

    # ------------------------------------------------------------ emitting

    def emit(self, event_type: type[E], /, *, phase: str | None = None, attempt: int = 0, **payload: Any) -> E:
        """Stamp an event and queue it for `drain()`; safe to call from any thread."""
        with self._emit_lock:  # stamping and queueing together: the queue stays in seq order
            return super().emit(event_type, phase=phase, attempt=attempt, **payload)

    def publish(self, event: E, /, *, phase: str | None = None, attempt: int = 0) -> E:
        """Stamp a payload-only event and queue it for `drain()`; safe from any thread."""
        with self._emit_lock:
            return super().publish(event, phase=phase, attempt=attempt)

    def deliver(self, event: Event) -> None:
        """Queue an already stamped event; `drain()` delivers it."""
        self._pending.append(event)

    async def drain(self) -> None:
        """Deliver every queued event, in seq order; returns once nothing is queued.

        One task delivers at a time, shielded from the caller: cancelling a caller does
        not cut a delivery short (the next `drain()` waits for it). Called from a
        subscriber, it returns at once; the delivery under way takes the new events.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        while self._pending or (self._pump is not None and not self._pump.done()):
            pump = self._pump
            if pump is None or pump.done() or pump.get_loop() is not loop:
                pump = self._pump = loop.create_task(self._deliver_pending(), name=f"trainer-fsm bus {self.run_id}")
            elif _delivering.get() is self:  # a subscriber's own drain: the delivery under way goes on
                return
            await asyncio.shield(pump)

    # ------------------------------------------------------------ delivering

    async def _deliver_pending(self) -> None:
        _delivering.set(self)  # in this task's own context, and its subscribers' tasks
        while self._pending:
            await self._deliver_one(self._pending.popleft())

    async def _deliver_one(self, event: Event) -> None:
        for captured in _bus._active_captures:
            captured.append(event)
        for sub in self.subscribers_for(type(event)):
            if sub._bus is None:  # removed while this event was being delivered
                continue
            try:
                if sub.where is not None and not sub.where(event):
                    continue
                timeout = self._timeouts.get(sub, self._timeout)
                if sub.once:
                    sub.remove()
                result = sub.fn(event)
                if inspect.isawaitable(result):
                    await self._await_subscriber(result, timeout)
            except Exception as exc:
                self._subscriber_failed(sub, event, exc)

    @staticmethod
    async def _await_subscriber(result: Any, timeout: float | None) -> None:
        import asyncio

        task = asyncio.ensure_future(result)
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        except BaseException:  # the delivery itself was cancelled: take the subscriber with it
            task.cancel()
            raise
        if not done:
            # Cancelled but not awaited: a subscriber that ignores cancellation cannot stall us.
            task.add_done_callback(_consume_outcome)
            task.cancel()
            msg = (
                f"did not finish within {timeout:g} s; make it quicker, or give it more time: "
                "AsyncEventBus(timeout=...) or bus.subscribe(..., timeout=...)"
            )
            raise TimeoutError(msg)
        task.result()
