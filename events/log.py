"""A structlog subscriber that logs every event with bound keys.

It never configures logging globally. By default it logs through
``structlog.get_logger("trainer_fsm")``, so it follows whatever the user's program set
up with ``structlog.configure``; pass ``renderer="console"`` or ``renderer="json"`` to
get a private logger with that renderer that writes to `stream` instead.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Literal

from events.types import (
    Event,
    GuardRejected,
    InitFailed,
    PhaseFailed,
    PhaseRetrying,
    PhaseRolledBack,
    SubscriberFailed,
)

__all__ = ["LEVELS", "StructlogSubscriber", "level_of"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

_WARNINGS = (GuardRejected, PhaseRetrying, PhaseRolledBack, SubscriberFailed)
_ERRORS = (InitFailed,)


def _import_structlog() -> Any:
    """Import structlog without moving Python's global RNG.

    Its first import pulls in rich, whose import draws from `random`; a set-up must not
    change the user's RNG state before its seed phase (or at all, when rejected).
    """
    import random

    state = random.getstate()
    import structlog

    random.setstate(state)
    return structlog


def level_of(event: Event) -> str:
    """The log level an event is logged at."""
    if isinstance(event, _ERRORS) or (isinstance(event, PhaseFailed) and event.final):
        return "error"
    if isinstance(event, (*_WARNINGS, PhaseFailed)):
        return "warning"
    return "info"


class StructlogSubscriber:
    """Logs each event it receives, at `level_of(event)`, if at or above `level`.

    Args:
        logger: a structlog logger to log through; default ``get_logger("trainer_fsm")``.
        renderer: build a private logger rendering "console" or "json" lines instead.
        level: the lowest level logged ("debug", "info", "warning", "error").
        stream: where the private logger writes (default: standard error).
    """

    def __init__(
        self,
        logger: Any = None,
        *,
        renderer: Literal["console", "json"] | None = None,
        level: str = "info",
        stream: IO[str] | None = None,
    ) -> None:
        structlog = _import_structlog()
        if level not in LEVELS:
            msg = f"level={level!r} is not a log level; use one of {sorted(LEVELS)}"
            raise ValueError(msg)
        self.level = level
        if logger is None and renderer is not None:
            processors: list[Any] = [
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ]
            if renderer == "json":
                processors.append(structlog.processors.JSONRenderer(sort_keys=True))
            elif renderer == "console":
                processors.append(structlog.dev.ConsoleRenderer(colors=False))
            else:
                msg = f"renderer={renderer!r} is unknown; use 'console' or 'json'"
                raise ValueError(msg)
            logger = structlog.wrap_logger(structlog.PrintLogger(stream or sys.stderr), processors=processors)
        self.logger = logger if logger is not None else structlog.get_logger("trainer_fsm")

    def __call__(self, event: Event) -> None:
        level = level_of(event)
        if LEVELS[level] < LEVELS[self.level]:
            return
        log = self.logger.bind(run_id=event.run_id, phase=event.phase, rank=event.rank)
        fields = event.redacted_payload()
        fields.update(seq=event.seq, attempt=event.attempt)
        getattr(log, level)(event.name, **fields)
