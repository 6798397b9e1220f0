"""The set-up context: what the user gave, and what the phases have built so far."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from events.bus import EventBus
    from fsm.config import InitConfig

__all__ = ["SetupContext", "SetupInputs"]


@dataclass(frozen=True)
class SetupInputs:
    """The objects handed to `TrainerInit`, as given. Phases read them, never change them."""

    model: Any = None
    model_init: Callable[..., Any] | None = None
    train_dataset: Any = None
    eval_dataset: Any = None
    data_collator: Callable[..., Any] | None = None
    processing_class: Any = None
    compute_metrics: Callable[..., Any] | None = None
    compute_loss_func: Callable[..., Any] | None = None
    preprocess_logits_for_metrics: Callable[..., Any] | None = None
    callbacks: tuple[Any, ...] | None = None
    optimizers: tuple[Any, Any] = (None, None)
    optimizer_cls_and_kwargs: tuple[type, dict[str, Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The inputs by name (shallow), as the guards take them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(eq=False)
class SetupContext:
    """Everything the phases read and build, in one place.

    The fields below `bus` are the *products*: each is set by one phase. The machine
    snapshots the products before every phase and puts them back when the phase fails
    or is rolled back, so a phase only undoes what lies outside the context.
    """

    config: InitConfig
    inputs: SetupInputs
    bus: EventBus

    # seed
    seed: int | None = None
    # accelerate
    accelerator: Any = None
    device: Any = None
    log_level: str | None = None
    # resolve_model
    model: Any = None
    model_source: str | None = None
    # resolve_strategy
    is_model_parallel: bool = False
    is_fsdp_enabled: bool = False
    is_deepspeed_enabled: bool = False
    place_model_on_device: bool = True
    placement_reasons: tuple[str, ...] = ()
    # place
    model_wrapped: Any = None
    model_moved: bool = False
    # introspect
    label_names: list[str] | None = None
    model_accepts_loss_kwargs: bool = False
    can_return_loss: bool = False
    label_smoother: Any = None
    # store
    train_dataset: Any = None
    eval_dataset: Any = None
    data_collator: Any = None
    processing_class: Any = None
    compute_metrics: Any = None
    compute_loss_func: Any = None
    preprocess_logits_for_metrics: Any = None
    optimizer: Any = None
    lr_scheduler: Any = None
    optimizer_cls_and_kwargs: Any = None
    # register_callbacks
    callback_handler: Any = None
    # prepare_output
    output_dir: str | None = None
    output_dir_created: bool = False
    hub_repo_id: str | None = None
    # init_state
    state: Any = None
    control: Any = None
    # finalize
    memory_metrics: dict[str, int] = field(default_factory=dict)
    # what each phase needs to undo its effects outside the context, by trigger
    undo: dict[str, Any] = field(default_factory=dict)

    _FIXED = ("config", "inputs", "bus")

    def snapshot(self) -> dict[str, Any]:
        """The products as a shallow dict; `restore` puts them back."""
        snap = {name: getattr(self, name) for name in _product_names()}
        snap["undo"] = dict(self.undo)
        snap["memory_metrics"] = dict(self.memory_metrics)
        return snap

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back the products recorded by `snapshot`."""
        for name, value in snapshot.items():
            if name in ("undo", "memory_metrics"):
                value = dict(value)
            setattr(self, name, value)

    @property
    def is_main_process(self) -> bool:
        """Whether this process is the main one (True before the accelerator exists)."""
        return self.accelerator is None or bool(self.accelerator.is_main_process)


@functools.cache
def _product_names() -> tuple[str, ...]:
    """The context's product fields (all but config, inputs and bus), computed once."""
    return tuple(f.name for f in dataclasses.fields(SetupContext) if f.name not in SetupContext._FIXED)
