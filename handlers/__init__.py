"""The eleven phases of a set-up, one module each.

Each phase is a small object with `run(ctx)` (does the work, returns its fact event),
`rollback(ctx)` (undoes exactly what it did) and `reads` (the config fields it depends
on). `default_phases()` gives the phases trainer-fsm uses; pass replacements to
``TrainerInit(handlers={"place": MyPlacePhase()})``.
"""

from __future__ import annotations

from handlers.accelerator import AcceleratePhase
from handlers.arguments import StorePhase, default_data_collator
from handlers.base import Phase, PhaseHandler
from handlers.callbacks import (
    CallbackHandler,
    DefaultFlowCallback,
    PrinterCallback,
    ProgressCallback,
    TrainerCallback,
)
from handlers.context import SetupContext, SetupInputs
from handlers.finalize import FinalizePhase
from handlers.introspection import IntrospectPhase, LabelSmoother
from handlers.model import ResolveModelPhase
from handlers.output import PrepareOutputPhase
from handlers.placement import PlacePhase
from handlers.register import RegisterCallbacksPhase
from handlers.seed import SeedPhase
from handlers.strategy import ResolveStrategyPhase
from handlers.trainer_state import InitStatePhase, TrainerControl, TrainerState

__all__ = [
    "AcceleratePhase",
    "CallbackHandler",
    "DefaultFlowCallback",
    "FinalizePhase",
    "InitStatePhase",
    "IntrospectPhase",
    "LabelSmoother",
    "Phase",
    "PhaseHandler",
    "PlacePhase",
    "PrepareOutputPhase",
    "PrinterCallback",
    "ProgressCallback",
    "RegisterCallbacksPhase",
    "ResolveModelPhase",
    "ResolveStrategyPhase",
    "SeedPhase",
    "SetupContext",
    "SetupInputs",
    "StorePhase",
    "TrainerCallback",
    "TrainerControl",
    "TrainerState",
    "default_data_collator",
    "default_phases",
]


def default_phases() -> dict[str, PhaseHandler]:
    """A fresh instance of every built-in phase, by trigger, in run order."""
    phases: list[PhaseHandler] = [
        SeedPhase(),
        AcceleratePhase(),
        ResolveModelPhase(),
        ResolveStrategyPhase(),
        PlacePhase(),
        IntrospectPhase(),
        StorePhase(),
        RegisterCallbacksPhase(),
        PrepareOutputPhase(),
        InitStatePhase(),
        FinalizePhase(),
    ]
    return {phase.trigger: phase for phase in phases}
