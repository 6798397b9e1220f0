"""Errors raised by trainer-fsm.

This module imports nothing from the package, so every other module can import it.
`TrainerFsmError` is the root; catch it to catch anything the set-up raises on purpose.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "PhaseError", "StateError", "TrainerFsmError"]


class TrainerFsmError(Exception):
    """Root of every error trainer-fsm raises on purpose."""


class ConfigError(TrainerFsmError, ValueError):
    """Raised when the configuration or the inputs are invalid.

    Raised before anything changed: by `InitConfig.from_dict` for unknown keys, by
    `TrainerInit.run()` when the guards reject the set-up (every violation is listed in
    `violations`), and by a guard on a transition that needs an earlier phase's result.
    """

    def __init__(self, message: str, violations: list[Any] | None = None) -> None:
        super().__init__(message)
        self.violations: list[Any] = list(violations or [])


class PhaseError(TrainerFsmError):
    """Raised when a phase fails for good (after its retries).

    The machine is then in ``Failed``; `phase` is the trigger that failed, `attempt`
    the number of the last attempt, and the phase's own exception is ``__cause__``.
    Call `TrainerInit.retry()` or `TrainerInit.resume()` to go on.
    """

    def __init__(self, message: str, *, phase: str, attempt: int, state: str = "") -> None:
        super().__init__(message)
        self.phase = phase
        self.attempt = attempt
        self.state = state


class StateError(TrainerFsmError, RuntimeError):
    """Raised when a method is called in a state where it makes no sense.

    For example `retry()` when nothing failed, or `step()` once the machine is Ready.
    The message says which state the machine is in and what to call instead.
    """
