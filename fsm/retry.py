"""Retry policies: how often a failed phase runs again, and after how long.

The default retries *transient* errors only (a dropped connection, a timeout, an OSError
such as EAGAIN/EBUSY/ETIMEDOUT, an HTTP 429 or 5xx from the hub) up to three attempts in
all, with short exponential backoff and jitter; any other error fails the phase at once.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fsm.exceptions import ConfigError

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RetryPolicy", "RetryPlan", "is_transient"]

TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.ETIMEDOUT,
        errno.EINTR,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)

# Exception class names of HTTP clients (httpx, requests, urllib3) that mean "the network
# hiccuped": matched by name so the core imports none of those clients.
_TRANSIENT_NAMES = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "TimeoutException",
        "NetworkError",
        "RemoteProtocolError",
        "ProtocolError",
        "ChunkedEncodingError",
    }
)


def _status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) is worth retrying."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        if isinstance(current, OSError) and current.errno in TRANSIENT_ERRNOS:
            return True
        if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(current).__mro__):
            return True
        code = _status_code(current)
        if code is not None and (code == 429 or code >= 500):
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """When and how a failed phase is tried again.

    Args:
        max_attempts: attempts in all, the first included (1 means no retry).
        initial_delay: seconds before the first retry.
        multiplier: each further retry waits this many times longer...
        max_delay: ...but never longer than this.
        jitter: up to this fraction of the delay is added at random, so that many
            processes retrying together do not hit a server in step.
        retry_on: decides whether an exception is transient (default `is_transient`).
    """

    max_attempts: int = 3
    initial_delay: float = 0.05
    multiplier: float = 2.0
    max_delay: float = 2.0
    jitter: float = 0.1
    retry_on: Callable[[BaseException], bool] = field(default=is_transient, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            msg = f"RetryPolicy(max_attempts={self.max_attempts!r}) must be an int >= 1 (1 means no retry)"
            raise ConfigError(msg)
        for name in ("initial_delay", "max_delay", "jitter"):
            if getattr(self, name) < 0:
                msg = f"RetryPolicy({name}={getattr(self, name)!r}) must be >= 0"
                raise ConfigError(msg)
        if self.multiplier < 1:
            msg = f"RetryPolicy(multiplier={self.multiplier!r}) must be >= 1"
            raise ConfigError(msg)

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether attempt number `attempt` that raised `exc` gets another try.

        The ranks of a distributed set-up decide together (`fsm.distributed`): their
        `RemotePhaseError` carries the decision in `agreed_retry`, which then stands.
        """
        agreed = getattr(exc, "agreed_retry", None)
        if agreed is not None:
            return bool(agreed)
        return attempt < self.max_attempts and self.retry_on(exc)

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number `attempt` failed."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return base + base * self.jitter * (rng or random).random()


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)


class RetryPlan:
    """The policy of every trigger: one for all, or a mapping per trigger."""

    def __init__(
        self,
        retry: RetryPolicy | Mapping[str, RetryPolicy] | None,
        triggers: tuple[str, ...],
        default: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        if retry is None:
            self._default, self._by_trigger = default, {}
        elif isinstance(retry, RetryPolicy):
            self._default, self._by_trigger = retry, {}
        elif isinstance(retry, Mapping):
            unknown = sorted(set(retry) - set(triggers))
            if unknown:
                msg = f"retry has policies for unknown trigger(s) {unknown}; the triggers are {', '.join(triggers)}"
                raise ConfigError(msg)
            bad = [k for k, v in retry.items() if not isinstance(v, RetryPolicy)]
            if bad:
                msg = f"retry[{bad[0]!r}] must be a RetryPolicy, got {type(retry[bad[0]]).__name__}"
                raise ConfigError(msg)
            self._default, self._by_trigger = default, dict(retry)
        else:
            msg = f"retry must be a RetryPolicy or a mapping of trigger to RetryPolicy, got {type(retry).__name__}"
            raise ConfigError(msg)

    def for_trigger(self, trigger: str) -> RetryPolicy:
        """The policy for `trigger`."""
        return self._by_trigger.get(trigger, self._default)
