"""Rules on log levels: `log_level` and `log_level_replica` are known level names."""

from __future__ import annotations

from collections.abc import Iterator

from fsm.config import LOG_LEVELS
from fsm.guards import GuardSubject, rule
from fsm.rules.enums import unknown_choice

__all__: list[str] = []


@rule("logging.log_level", fields=("log_level",))
def log_level(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`log_level` is one of passive, debug, info, warning, error, critical."""
    yield from unknown_choice("log_level", s.config.log_level, LOG_LEVELS)


@rule("logging.log_level_replica", fields=("log_level_replica",))
def log_level_replica(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`log_level_replica` (the other processes' level) is a known level name."""
    yield from unknown_choice("log_level_replica", s.config.log_level_replica, LOG_LEVELS)
