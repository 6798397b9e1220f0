"""Errors raised by trainer-fsm.

This module imports nothing from the package, so every other module can import it.
`TrainerFsmError` is the root; catch it to catch anything the set-up raises on purpose.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgreementTimeoutError",
    "ConfigError",
    "PhaseError",
    "RemotePhaseError",
    "StateError",
    "TrainerFsmError",
]


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


class RemotePhaseError(PhaseError):
    """A phase failed on one rank of a distributed set-up, so it fails on every rank.

    Raised on every rank after the ranks exchanged their outcomes of a phase (see
    `fsm.distributed`): it is the ``__cause__`` of the `PhaseError` that `run()` raises,
    and `TrainerInit.error` while the machine is in Failed. `rank` is the first rank
    whose phase failed; `failures` maps each failed rank to ``"ErrorType: message"``.
    On the rank that failed, the phase's own exception is this error's ``__cause__``.
    `agreed_retry` is the retry decision every rank takes together.
    """

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        attempt: int,
        rank: int,
        failures: dict[int, str] | None = None,
        agreed_retry: bool = False,
        state: str = "",
    ) -> None:
        super().__init__(message, phase=phase, attempt=attempt, state=state)
        self.rank = rank
        self.failures: dict[int, str] = dict(failures or {})
        self.agreed_retry = agreed_retry


class AgreementTimeoutError(RemotePhaseError):
    """A rank did not report its outcome of a phase within the agreement timeout.

    `rank` is the first rank that never reported and `missing` lists them all. It may
    have crashed, hung in the phase, or be running another phase; every rank that
    waited fails the phase with this error. Raise ``agreement_timeout`` (an argument
    of `TrainerInit`) when a phase legitimately takes longer on some ranks.
    """

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        attempt: int,
        missing: tuple[int, ...],
        timeout: float,
        state: str = "",
    ) -> None:
        first = missing[0] if missing else -1
        super().__init__(message, phase=phase, attempt=attempt, rank=first, state=state)
        self.missing = tuple(missing)
        self.timeout = timeout


class StateError(TrainerFsmError, RuntimeError):
    """Raised when a method is called in a state where it makes no sense.

    For example `retry()` when nothing failed, or `step()` once the machine is Ready.
    The message says which state the machine is in and what to call instead.
    """
