"""Phase 10, `init_state`: a fresh `TrainerState` and `TrainerControl`.

`TrainerState` saves to and loads from JSON in the layout of transformers'
``trainer_state.json`` (same field names and nesting, keys sorted, two-space indent),
so state files move between the two libraries.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from events.types import StateInitialized
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["InitStatePhase", "TrainerControl", "TrainerState"]


@dataclass
class TrainerControl:
    """Switches callbacks flip to steer the training loop (as transformers' TrainerControl)."""

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False

    def state(self) -> dict[str, Any]:
        """The exportable state, as stored under ``stateful_callbacks`` in trainer_state.json."""
        return {"args": dataclasses.asdict(self), "attributes": {}}


@dataclass
class TrainerState:
    """The training loop's state, field for field as transformers' TrainerState."""

    epoch: float = 0
    global_step: int = 0
    max_steps: int = 0
    logging_steps: int = 500
    eval_steps: int = 500
    save_steps: int = 500
    train_batch_size: int | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_global_step: int | None = None
    best_model_checkpoint: str | None = None
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True
    is_hyper_param_search: bool = False
    trial_name: str | None = None
    trial_params: dict[str, Any] | None = None
    stateful_callbacks: dict[str, Any] = field(default_factory=dict)

    def to_json_string(self) -> str:
        """The JSON text transformers writes for this state."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    def save_to_json(self, json_path: str | Path) -> None:
        """Write the state to `json_path` (trainer_state.json layout)."""
        Path(json_path).write_text(self.to_json_string(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainerState:
        """Build a state from a trainer_state.json mapping; unknown keys are rejected."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"trainer state has unknown field(s) {unknown}; expected the fields of transformers' TrainerState"
            raise ValueError(msg)
        return cls(**data)

    @classmethod
    def load_from_json(cls, json_path: str | Path) -> TrainerState:
        """Read a trainer_state.json written by this class or by transformers."""
        return cls.from_dict(json.loads(Path(json_path).read_text(encoding="utf-8")))

    def compute_steps(self, config: Any, max_steps: int) -> None:
        """Turn ratio logging/eval/save steps (< 1) into absolute ones for `max_steps`."""
        for kind in ("logging", "eval", "save"):
            steps = getattr(config, f"{kind}_steps")
            if steps is not None:
                if steps < 1:
                    steps = math.ceil(max_steps * steps)
                setattr(self, f"{kind}_steps", int(steps))


def planned_max_steps(ctx: SetupContext) -> int:
    """Optimizer steps the run will take: `max_steps`, or derived from the data, else 0."""
    config = ctx.config
    if config.max_steps > 0:
        return config.max_steps
    try:
        samples = len(ctx.train_dataset)
    except TypeError:
        return 0
    batch = config.per_device_train_batch_size * ctx.accelerator.num_processes
    per_epoch = max(1, math.ceil(samples / batch) // config.gradient_accumulation_steps)
    return math.ceil(config.num_train_epochs * per_epoch)


class InitStatePhase(Phase):
    """Create the TrainerState and TrainerControl the training loop starts from."""

    trigger = "init_state"
    reads = frozenset(
        {
            "max_steps",
            "num_train_epochs",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "logging_steps",
            "eval_steps",
            "save_steps",
        }
    )

    def run(self, ctx: SetupContext) -> StateInitialized:
        accelerator = ctx.accelerator
        control = TrainerControl()
        callbacks = [*ctx.callback_handler.callbacks, control]
        stateful: dict[str, Any] = {}
        for cb in callbacks:
            if callable(getattr(cb, "state", None)):
                stateful[type(cb).__name__] = cb.state()
        max_steps = planned_max_steps(ctx) if ctx.train_dataset is not None or ctx.config.max_steps > 0 else 0
        state = TrainerState(
            is_local_process_zero=accelerator.is_local_main_process,
            is_world_process_zero=accelerator.is_main_process,
            stateful_callbacks=stateful,
            max_steps=max_steps,
            train_batch_size=ctx.config.per_device_train_batch_size,
        )
        if max_steps:
            state.compute_steps(ctx.config, max_steps)
        ctx.state, ctx.control = state, control
        return StateInitialized(
            global_step=state.global_step,
            max_steps=state.max_steps,
            train_batch_size=state.train_batch_size,
            stateful_callbacks=sorted(stateful),
        )
