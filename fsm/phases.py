"""The one table of states and triggers. Everything else is derived from it.

Each row is a phase: the trigger that runs it, the state it reaches, and what it does.
The source state of a phase is the state the previous row reaches (the first starts in
``Uninitialized``). Any phase can end in ``Failed``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FAILED",
    "INITIAL",
    "PHASES",
    "READY",
    "STATES",
    "TRIGGERS",
    "PhaseSpec",
    "phase_for",
]

INITIAL = "Uninitialized"
FAILED = "Failed"

_TABLE: tuple[tuple[str, str, str], ...] = (
    # trigger               state reached           what the phase does
    ("seed",                "Seeded",               "seed python, numpy and torch; full determinism when asked"),
    ("accelerate",          "Accelerated",          "build the accelerate.Accelerator; set log levels"),
    ("resolve_model",       "ModelResolved",        "take `model` or call `model_init`; count parameters"),
    ("resolve_strategy",    "StrategyResolved",     "detect model parallel, FSDP, DeepSpeed; decide placement"),
    ("place",               "Placed",               "move the model to the device unless the strategy forbids it"),
    ("introspect",          "Introspected",         "label names, loss kwargs, label smoother from the forward"),
    ("store",               "ArgumentsStored",      "datasets, collator, metrics function, optimizer references"),
    ("register_callbacks",  "CallbacksRegistered",  "default flow, reporting, progress and user callbacks"),
    ("prepare_output",      "OutputPrepared",       "output dir on the main process; hub repository"),
    ("init_state",          "StateInitialized",     "TrainerState and TrainerControl"),
    ("finalize",            "Ready",                "use_cache, memory metrics; ready to train"),
)  # fmt: skip


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of the set-up: `trigger` moves the machine from `source` to `dest`."""

    index: int
    trigger: str
    source: str
    dest: str
    description: str


def _build() -> tuple[PhaseSpec, ...]:
    specs = []
    source = INITIAL
    for index, (trigger, dest, description) in enumerate(_TABLE):
        specs.append(PhaseSpec(index, trigger, source, dest, description))
        source = dest
    return tuple(specs)


PHASES: tuple[PhaseSpec, ...] = _build()
"""The eleven phases, in run order."""

TRIGGERS: tuple[str, ...] = tuple(p.trigger for p in PHASES)
READY: str = PHASES[-1].dest
STATES: tuple[str, ...] = (INITIAL, *(p.dest for p in PHASES), FAILED)
"""Every state, in order: Uninitialized, the eleven phase states, Failed."""

_BY_TRIGGER = {p.trigger: p for p in PHASES}
_BY_SOURCE = {p.source: p for p in PHASES}


def phase_for(trigger: str) -> PhaseSpec:
    """The phase run by `trigger`; a clear KeyError for an unknown one."""
    try:
        return _BY_TRIGGER[trigger]
    except KeyError:
        msg = f"{trigger!r} is not a phase trigger; the triggers are {', '.join(TRIGGERS)}"
        raise KeyError(msg) from None


def next_phase(state: str) -> PhaseSpec | None:
    """The phase that runs from `state`, or None when `state` is Ready or Failed."""
    return _BY_SOURCE.get(state)
