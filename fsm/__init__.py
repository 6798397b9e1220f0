"""trainer-fsm: the set-up of a training run as an event-driven state machine.

    from fsm import InitConfig, TrainerInit

    setup = TrainerInit(InitConfig(output_dir="out"), model=model).run()

This module is the public facade; the names below are the supported API.
"""

from __future__ import annotations


def _check_events_package() -> None:
    # PyPI's unrelated `Events` package also installs a top-level `events`; if it comes
    # first on sys.path, every import below would fail in a confusing way.
    import events

    if not getattr(events, "__trainer_fsm__", False):
        where = getattr(events, "__file__", None) or "an unknown location"
        msg = (
            f"the module `events` imported from {where} is not trainer-fsm's event package. "
            "Another package (PyPI's `Events`?) installs a top-level `events`: "
            "`pip uninstall Events`, or make sure trainer-fsm comes first on sys.path."
        )
        raise ImportError(msg)


_check_events_package()

from fsm.async_machine import AsyncTrainerInit  # noqa: E402
from fsm.config import InitConfig  # noqa: E402
from fsm.exceptions import (  # noqa: E402
    AgreementTimeoutError,
    ConfigError,
    PhaseError,
    RemotePhaseError,
    StateError,
    TrainerFsmError,
)
from fsm.guards import Violation, validate  # noqa: E402
from fsm.machine import TrainerInit, transition_table  # noqa: E402
from fsm.phases import FAILED, INITIAL, PHASES, READY, STATES, TRIGGERS  # noqa: E402
from fsm.result import TrainerSetup  # noqa: E402
from fsm.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy  # noqa: E402
from handlers.callbacks import TrainerCallback  # noqa: E402
from handlers.trainer_state import TrainerControl, TrainerState  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_RETRY",
    "FAILED",
    "INITIAL",
    "NO_RETRY",
    "PHASES",
    "READY",
    "STATES",
    "TRIGGERS",
    "AgreementTimeoutError",
    "AsyncTrainerInit",
    "ConfigError",
    "InitConfig",
    "PhaseError",
    "RemotePhaseError",
    "RetryPolicy",
    "StateError",
    "TrainerCallback",
    "TrainerControl",
    "TrainerFsmError",
    "TrainerInit",
    "TrainerSetup",
    "TrainerState",
    "Violation",
    "__version__",
    "transition_table",
    "validate",
]
