"""Event types: frozen dataclasses, one per thing that can happen during a set-up.

Every event carries the same envelope (`run_id`, `seq`, wall and monotonic time,
`rank`, `world_size`, `phase`, `attempt`), stamped by the bus when it is emitted, and
its own payload. `Event.to_dict()` gives a flat, JSON-able dict, the form the audit log
and the JSON renderers use.

Lifecycle events describe the machine; each phase also has one *fact* event saying
what it decided (`SeedSet`, `AcceleratorReady`, ...). `EVENT_TYPES` maps every event
name to its class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "AcceleratorReady",
    "ArgumentsStored",
    "CallbacksRegistered",
    "Event",
    "FactEvent",
    "Finalized",
    "GuardRejected",
    "InitFailed",
    "InitReady",
    "InitStarted",
    "ModelIntrospected",
    "ModelPlaced",
    "ModelResolved",
    "OutputPrepared",
    "PhaseCompleted",
    "PhaseFailed",
    "PhaseRetrying",
    "PhaseRolledBack",
    "PhaseStarted",
    "Reconfigured",
    "SeedSet",
    "StateInitialized",
    "StrategyResolved",
    "SubscriberFailed",
]

EVENT_TYPES: dict[str, type[Event]] = {}
"""Every concrete event class by its name (``"PhaseStarted"`` -> `PhaseStarted`)."""

ENVELOPE_FIELDS = ("run_id", "seq", "time", "monotonic", "rank", "world_size", "phase", "attempt")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events: the envelope every event carries.

    Attributes:
        run_id: identifies one set-up; the same on every rank of a distributed run.
        seq: position of the event in its run on this rank, from 0, without gaps.
        time: wall-clock time (seconds since the epoch, UTC).
        monotonic: `time.monotonic()` when emitted; use it for durations.
        rank: global rank of the emitting process (0 when not distributed).
        world_size: number of processes in the run.
        phase: the trigger of the phase the event belongs to, or ``None``.
        attempt: 1 for a phase's first attempt, 2 for its first retry, ...
    """

    name: ClassVar[str] = "Event"
    _payload_names: ClassVar[tuple[str, ...]] = ()

    run_id: str = ""
    seq: int = -1
    time: float = 0.0
    monotonic: float = 0.0
    rank: int = 0
    world_size: int = 1
    phase: str | None = None
    attempt: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        if not cls.__name__.startswith("_") and cls.__name__ != "FactEvent":
            EVENT_TYPES[cls.name] = cls

    @property
    def payload(self) -> dict[str, Any]:
        """The event's own fields, without the envelope."""
        names = type(self).__dict__.get("_payload_cache")
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(self) if f.name not in ENVELOPE_FIELDS)
            type.__setattr__(type(self), "_payload_cache", names)
        return {n: getattr(self, n) for n in names}

    def redacted_payload(self) -> dict[str, Any]:
        """`payload` with every secret redacted (`events.redact.redact`), computed once
        per event however many subscribers (logger, audit log) ask for it."""
        cached = self.__dict__.get("_redacted_payload")
        if cached is None:
            from events.redact import redact

            cached = redact(self.payload)
            object.__setattr__(self, "_redacted_payload", cached)  # a cache, not a field
        return dict(cached)

    def to_dict(self) -> dict[str, Any]:
        """A flat, JSON-able dict: ``{"event": name, <envelope>, <payload>}``."""
        out: dict[str, Any] = {"event": self.name}
        for n in ENVELOPE_FIELDS:
            out[n] = getattr(self, n)
        out.update(self.payload)
        return out


@dataclass(frozen=True, kw_only=True)
class FactEvent(Event):
    """Base of the per-phase events that say what a phase decided."""


# ---------------------------------------------------------------- lifecycle


@dataclass(frozen=True, kw_only=True)
class InitStarted(Event):
    """The set-up begins: the (redacted) config and the phases that will run."""

    config: dict[str, Any] = field(default_factory=dict)
    phases: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PhaseStarted(Event):
    """A phase attempt begins; `source` and `dest` are the states it moves between."""

    source: str = ""
    dest: str = ""


@dataclass(frozen=True, kw_only=True)
class PhaseCompleted(Event):
    """A phase finished; the machine is now in `state`."""

    state: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PhaseFailed(Event):
    """A phase attempt raised. `final` is False when a retry follows."""

    error_type: str = ""
    error: str = ""
    duration_s: float = 0.0
    final: bool = True


@dataclass(frozen=True, kw_only=True)
class PhaseRetrying(Event):
    """A failed phase will run again after `delay_s` seconds (attempt is the next one)."""

    delay_s: float = 0.0
    error_type: str = ""
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class PhaseRolledBack(Event):
    """A phase's work was undone; `reason` is "failed", "reconfigure" or "cancelled"."""

    reason: str = ""
    state: str = ""


@dataclass(frozen=True, kw_only=True)
class GuardRejected(Event):
    """Guards rejected the config; nothing was changed. One dict per violation."""

    violations: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""


@dataclass(frozen=True, kw_only=True)
class InitReady(Event):
    """The machine reached Ready."""

    duration_s: float = 0.0
    state: str = "Ready"


@dataclass(frozen=True, kw_only=True)
class InitFailed(Event):
    """The machine stopped in Failed; `failed_phase` and the error say why."""

    failed_phase: str = ""
    last_good_state: str = ""
    error_type: str = ""
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class Reconfigured(Event):
    """The config changed (`changes`, redacted); the machine rolled back to `state`."""

    changes: dict[str, Any] = field(default_factory=dict)
    state: str = ""


@dataclass(frozen=True, kw_only=True)
class SubscriberFailed(Event):
    """A subscriber raised (or timed out) while handling `event_name`; the set-up went on."""

    subscriber: str = ""
    event_name: str = ""
    error_type: str = ""
    error: str = ""


# ---------------------------------------------------------------- facts, one per phase


@dataclass(frozen=True, kw_only=True)
class SeedSet(FactEvent):
    """Phase `seed`: the seed applied to python, numpy and torch."""

    seed: int = 0
    full_determinism: bool = False
    data_seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class AcceleratorReady(FactEvent):
    """Phase `accelerate`: the accelerator that was built."""

    device: str = ""
    distributed_type: str = ""
    mixed_precision: str = ""
    num_processes: int = 1
    process_index: int = 0
    local_process_index: int = 0
    gradient_accumulation_steps: int = 1
    log_level: str = ""


@dataclass(frozen=True, kw_only=True)
class ModelResolved(FactEvent):
    """Phase `resolve_model`: where the model came from and what it is."""

    source: str = ""
    model_class: str = ""
    num_parameters: int = 0
    trainable_parameters: int = 0
    dtype: str = ""


@dataclass(frozen=True, kw_only=True)
class StrategyResolved(FactEvent):
    """Phase `resolve_strategy`: how the model is spread over processes and devices."""

    distributed_type: str = ""
    is_model_parallel: bool = False
    fsdp: bool = False
    deepspeed: bool = False
    place_model_on_device: bool = True
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ModelPlaced(FactEvent):
    """Phase `place`: the model's device, whether it was moved, and why."""

    device: str = ""
    moved: bool = False
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ModelIntrospected(FactEvent):
    """Phase `introspect`: what the model's forward signature tells."""

    label_names: list[str] = field(default_factory=list)
    model_accepts_loss_kwargs: bool = False
    can_return_loss: bool = False
    label_smoothing_factor: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ArgumentsStored(FactEvent):
    """Phase `store`: the data and helpers the training loop will use."""

    train_dataset: str | None = None
    train_samples: int | None = None
    eval_dataset: str | None = None
    eval_samples: int | None = None
    data_collator: str = ""
    default_collator: bool = True
    compute_metrics: str | None = None
    optimizer: str | None = None
    lr_scheduler: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallbacksRegistered(FactEvent):
    """Phase `register_callbacks`: callbacks in the order they will run."""

    callbacks: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class OutputPrepared(FactEvent):
    """Phase `prepare_output`: the output directory and hub repository.

    `created_dirs` are the directories the phase created, deepest first (its rollback
    removes them again while they are empty).
    """

    output_dir: str = ""
    created: bool = False
    created_dirs: list[str] = field(default_factory=list)
    main_process: bool = True
    hub_repo: str | None = None


@dataclass(frozen=True, kw_only=True)
class StateInitialized(FactEvent):
    """Phase `init_state`: the fresh TrainerState and TrainerControl."""

    global_step: int = 0
    max_steps: int = 0
    train_batch_size: int | None = None
    stateful_callbacks: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Finalized(FactEvent):
    """Phase `finalize`: last touches before Ready."""

    use_cache: bool | None = None
    memory: dict[str, int] = field(default_factory=dict)
