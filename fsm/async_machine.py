"""`AsyncTrainerInit`: the same set-up, driven from inside an asyncio program.

It is `TrainerInit` (the same table, handlers, guards, events, retry and rollback
decisions: every one of them is inherited) on `transitions`' ``AsyncMachine``; only the
driving differs:

* `run`, `step`, `retry`, `resume` and `reconfigure` are coroutines;
* a phase whose `run` is a coroutine function is awaited on the loop; a plain (blocking)
  `run` goes to a worker thread (`asyncio.to_thread`), so the loop keeps serving while
  a model is built or moved. Settling an attempt (agreeing on it with the other ranks,
  rolling a failed one back) goes to a worker thread too. Phases still run one at a time;
* events go through an `AsyncEventBus`, delivered on the loop's thread: before each
  phase's work begins, and before each coroutine returns. Subscribers may be coroutine
  functions; each sees the events in seq order, the subscribers of one event run in
  priority order, and a slow or failing one is reported as `SubscriberFailed`;
* cancelling `run()` (or `step()`, ...) mid-phase rolls that phase back (a worker thread
  is first allowed to finish: it cannot be stopped) and re-raises `CancelledError`; the
  machine stays in the last completed state, and `resume()` goes on from there.

transitions' ``AsyncMachine`` runs a list of callbacks concurrently (``gather``) and
turns a cancellation into a ``False`` result. A set-up is driven by one task at a time,
so `_async_machine_class` awaits callbacks one after another in the driving task and
lets a cancellation reach the caller.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from events.async_bus import AsyncEventBus
from fsm.exceptions import ConfigError, PhaseError, StateError
from fsm.machine import TrainerInit
from fsm.phases import FAILED, READY, PhaseSpec
from handlers.base import PhaseHandler

if TYPE_CHECKING:  # asyncio is imported where it is used: `import fsm` stays cheap
    import asyncio

    from fsm.result import TrainerSetup

__all__ = ["AsyncTrainerInit"]


async def _sleep(delay: float) -> None:
    import asyncio

    await asyncio.sleep(delay)


async def _in_thread(fn: Callable[..., Any], *args: Any, undo: Callable[[Any], None] | None = None) -> Any:
    """`fn(*args)` in a worker thread; when cancelled, wait for the thread, then re-raise.

    A thread cannot be stopped: it is let finish, so that whatever follows (a rollback)
    never runs alongside it. Its result is then dropped, or handed to `undo`.
    """
    import asyncio

    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({work})
        if not work.cancelled() and work.exception() is None and undo is not None:
            undo(work.result())
        raise


@functools.cache
def _async_machine_class() -> type[Any]:
    """transitions' AsyncMachine, with callbacks awaited in turn in the driving task."""
    from transitions.extensions.asyncio import AsyncMachine

    class PhaseAsyncMachine(AsyncMachine):  # type: ignore[misc]
        """An ``AsyncMachine`` for a model that one task drives at a time."""

        async def callbacks(self, funcs: Any, event_data: Any) -> None:
            for func in funcs:  # in turn, in this task: not gathered into new tasks
                await self.callback(func, event_data)

        @staticmethod
        async def await_all(callables: Any) -> list[Any]:
            return [await func() for func in callables]

        async def process_context(self, func: Any, model: Any) -> Any:
            # AsyncMachine records the task so that a later transition can cancel it,
            # and turns that cancellation into False. Ours must reach the caller.
            return await self._process_async(func, model)

    return PhaseAsyncMachine


class AsyncTrainerInit(TrainerInit):
    """Set up a training run from an asyncio program; the arguments are `TrainerInit`'s.

    `bus`, if given, must be an `events.async_bus.AsyncEventBus` (its `timeout` bounds
    each coroutine subscriber per event); `handlers` may have coroutine `run` methods.

    Example:
        >>> setup = await AsyncTrainerInit(InitConfig(output_dir="out"), model=model).run()
    """

    bus_cls = AsyncEventBus
    bus: AsyncEventBus
    default_sleep = staticmethod(_sleep)
    _driver: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------ construction

    @classmethod
    def _check_handler(cls, trigger: str, handler: PhaseHandler) -> None:
        """A coroutine `run` is welcome; `rollback` must be plain: it undoes at once."""
        if inspect.iscoroutinefunction(getattr(handler, "rollback", None)):
            msg = (
                f"handlers[{trigger!r}].rollback is a coroutine function; a rollback runs at once "
                "(also while a cancellation unwinds), without awaiting. Make rollback a plain function"
            )
            raise ConfigError(msg)

    def _machine_class(self) -> type[Any]:
        return self.machine_cls if self.machine_cls is not None else _async_machine_class()

    # ------------------------------------------------------------ driving

    async def run(self) -> TrainerSetup:  # type: ignore[override]
        """Run every remaining phase to Ready and return the `TrainerSetup`.

        Raises as `TrainerInit.run` does; a cancellation rolls back the phase under way
        and leaves the machine in the last completed state.
        """
        async with self._driving():
            while self.state != READY:
                await self.step()
        assert self._setup is not None
        return self._setup

    async def step(self) -> str:  # type: ignore[override]
        """Run exactly one phase; returns the new state's name."""
        async with self._driving():
            await self._advance(self._next_spec())
        return self.state

    async def retry(self) -> str:  # type: ignore[override]
        """Re-run only the phase that failed; returns the new state's name."""
        async with self._driving():
            await self._advance(self._retry_spec())
        return self.state

    async def resume(self) -> TrainerSetup:  # type: ignore[override]
        """Go on to Ready from wherever the machine is, retrying a failed phase first."""
        async with self._driving():
            if self.state == FAILED:
                await self.retry()
            return await self.run()

    async def reconfigure(self, **changes: Any) -> str:  # type: ignore[override]
        """As `TrainerInit.reconfigure`; its events are delivered before it returns."""
        async with self._driving():
            return super().reconfigure(**changes)

    @contextlib.asynccontextmanager
    async def _driving(self) -> AsyncIterator[None]:
        """One task drives the machine at a time; deliver its events before handing back."""
        import asyncio

        task = asyncio.current_task()
        outermost = self._driver is None or self._driver.done()
        if not outermost and self._driver is not task:
            msg = f"{self!r} is being driven by another task; await that run()/step() first (phases run one at a time)"
            raise StateError(msg)
        if outermost:
            self._driver = task
        try:
            yield
        finally:
            try:
                await self.bus.drain()
            finally:
                if outermost:
                    self._driver = None

    # ------------------------------------------------------------ internals

    async def _advance(self, spec: PhaseSpec) -> None:  # type: ignore[override]
        self._pending_violations = []
        try:
            moved = await getattr(self._model, spec.trigger)()
        except PhaseError as err:
            self._fail(spec, err)
            raise
        self._advanced(spec, moved)

    async def _run_phase(self, event_data: Any) -> None:  # type: ignore[override]
        """`TrainerInit._run_phase`, driven with awaits: the same decisions, in the same order."""
        spec = self._begin_phase(event_data.event.name)
        phase = self.phases[spec.trigger]
        while True:
            attempt, started = self._begin_attempt(spec)
            fact: Any = None
            error: Exception | None = None
            try:
                await self.bus.drain()  # subscribers have seen PhaseStarted before the work begins
                try:
                    fact = await self._call_phase(phase)
                except Exception as exc:
                    error = exc
            except BaseException:  # cancelled: undo the phase, stay where we were
                self._roll_back(spec, reason="cancelled", attempt=attempt)
                raise
            delay = await self._settle(spec, attempt, started, fact, error)
            if delay is None:
                return
            await self.bus.drain()
            pause = self.sleep(delay)
            if inspect.isawaitable(pause):
                await pause

    async def _settle(
        self, spec: PhaseSpec, attempt: int, started: float, fact: Any, error: Exception | None
    ) -> float | None:
        """`_end_attempt` in a worker thread: agreeing with the other ranks and rolling
        back may block. Cancelled meanwhile, a phase that completed is rolled back."""

        def undo(delay: float | None) -> None:
            if delay is None:  # settled as done, but the caller has gone: leave no half-done phase
                self._roll_back(spec, reason="cancelled", attempt=attempt)

        return await _in_thread(self._end_attempt, spec, attempt, started, fact, error, undo=undo)

    async def _call_phase(self, phase: PhaseHandler) -> Any:
        """Await a coroutine `run`; run a plain one in a worker thread."""
        if inspect.iscoroutinefunction(phase.run):
            result = await phase.run(self.context)
        else:
            result = await _in_thread(phase.run, self.context)
        if inspect.isawaitable(result):  # a plain function that handed back an awaitable
            result = await result
        return result

    def __repr__(self) -> str:
        return f"<AsyncTrainerInit state={self.state!r} run_id={self.bus.run_id!r}>"
