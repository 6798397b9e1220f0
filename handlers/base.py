"""What every phase is: a small object with `run`, `rollback` and the fields it `reads`."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from events.types import FactEvent
    from handlers.context import SetupContext

__all__ = ["Phase", "PhaseHandler"]


@runtime_checkable
class PhaseHandler(Protocol):
    """The protocol a phase object satisfies; swap one in with ``TrainerInit(handlers=...)``.

    `run(ctx)` does the phase's work on the context and returns the fact event that
    says what it decided. `rollback(ctx)` undoes exactly what `run` did (and only
    that), also after a `run` that raised half way. `reads` names the `InitConfig`
    fields the phase depends on; `reconfigure` uses it to re-run only what a change
    affects.
    """

    trigger: str
    reads: frozenset[str]

    def run(self, ctx: SetupContext) -> FactEvent: ...

    def rollback(self, ctx: SetupContext) -> None: ...


class Phase:
    """Convenience base class for phases: a no-op rollback and an empty `reads`.

    The machine restores the context's fields itself after a rollback; `rollback`
    only has to undo effects outside the context (RNG state, files, device moves).
    """

    trigger: ClassVar[str] = ""
    reads: ClassVar[frozenset[str]] = frozenset()

    def run(self, ctx: SetupContext) -> FactEvent:  # pragma: no cover - abstract
        raise NotImplementedError

    def rollback(self, ctx: SetupContext) -> None:
        """Undo effects outside the context; the default has none to undo."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
