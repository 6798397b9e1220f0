"""Training callbacks: the base class, the handler that runs them, and the defaults.

The method names and arguments follow transformers' `TrainerCallback`
(``on_init_end(args, state, control, **kwargs)``, ``on_step_end``, ...), so callbacks
written for transformers read the same here. transformers' own `TrainerCallback`s are
accepted too: they are called with transformers' `TrainingArguments`, `TrainerState`
and `TrainerControl` (see `fsm.integrations.callbacks`). `CallbackHandler.call(...)` runs one event
on every callback in order, each getting and able to change the shared `control`.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = [
    "CALLBACK_EVENTS",
    "CallbackHandler",
    "DefaultFlowCallback",
    "PrinterCallback",
    "ProgressCallback",
    "TensorBoardCallback",
    "TrainerCallback",
]

CALLBACK_EVENTS = (
    "on_init_end",
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_begin",
    "on_pre_optimizer_step",
    "on_optimizer_step",
    "on_substep_end",
    "on_step_end",
    "on_evaluate",
    "on_predict",
    "on_save",
    "on_log",
    "on_prediction_step",
    "on_push_begin",
)
"""Every callback event, in the vocabulary of transformers' `TrainerCallback`."""


class TrainerCallback:
    """Base class for callbacks: override the events you need; the rest do nothing."""

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_substep_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_predict(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...
    def on_push_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any: ...


class DefaultFlowCallback(TrainerCallback):
    """Decides when to log, evaluate, save and stop, from the strategies and step counts."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        step = state.global_step
        if step == 1 and args.logging_first_step:
            control.should_log = True
        if args.logging_strategy == "steps" and state.logging_steps > 0 and step % state.logging_steps == 0:
            control.should_log = True
        if (
            args.eval_strategy == "steps"
            and state.eval_steps
            and step % state.eval_steps == 0
            and args.eval_delay <= step
        ):
            control.should_evaluate = True
        if args.save_strategy == "steps" and state.save_steps > 0 and step % state.save_steps == 0:
            control.should_save = True
        if state.max_steps and step >= state.max_steps:
            control.should_training_stop = True
            if args.save_strategy not in ("no", "best"):
                control.should_save = True
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if args.logging_strategy == "epoch":
            control.should_log = True
        if args.eval_strategy == "epoch" and args.eval_delay <= state.epoch:
            control.should_evaluate = True
        if args.save_strategy == "epoch":
            control.should_save = True
        return control


class ProgressCallback(TrainerCallback):
    """A rich progress bar over training steps, on the main process only."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.is_world_process_zero:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.start()
            self._task = self._progress.add_task("training", total=state.max_steps or None)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class PrinterCallback(TrainerCallback):
    """Prints the logs on the main process (used when `disable_tqdm` is set)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        if state.is_world_process_zero and logs:
            print(logs)


class TensorBoardCallback(TrainerCallback):
    """Writes logged scalars to TensorBoard (``report_to="tensorboard"``).

    Needs the `tensorboard` package; the writer is created when training begins.
    """

    requires = "tensorboard"

    def __init__(self) -> None:
        self.writer: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.is_world_process_zero and self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=f"{args.resolved_output_dir}/runs")

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        if self.writer is not None:
            for key, value in (logs or {}).items():
                if isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _is_transformers_callback(callback: Any) -> bool:
    """Whether `callback` derives from transformers' TrainerCallback (told without importing transformers)."""
    mro = type(callback).__mro__
    return any(k.__name__ == "TrainerCallback" and k.__module__.startswith("transformers.") for k in mro)


class CallbackHandler:
    """Runs callbacks in order; keeps the objects they receive as keyword arguments."""

    def __init__(
        self,
        callbacks: list[Any],
        model: Any = None,
        processing_class: Any = None,
        optimizer: Any = None,
        lr_scheduler: Any = None,
    ) -> None:
        self.callbacks: list[Any] = []
        for cb in callbacks:
            self.add_callback(cb)
        self.model = model
        self.processing_class = processing_class
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler

    def add_callback(self, callback: Any) -> None:
        """Append a callback (a class is instantiated); a second one of a class is warned about."""
        cb = callback() if isinstance(callback, type) else callback
        cb_class = type(cb)
        if any(type(c) is cb_class for c in self.callbacks):
            names = ", ".join(type(c).__name__ for c in self.callbacks)
            warnings.warn(
                f"adding a second {cb_class.__name__} to the callbacks; the callbacks are already: {names}",
                stacklevel=3,
            )
        self.callbacks.append(cb)

    def pop_callback(self, callback: Any) -> Any:
        """Remove and return the first callback that is `callback` or an instance of it."""
        for i, cb in enumerate(self.callbacks):
            if cb is callback or (isinstance(callback, type) and type(cb) is callback):
                return self.callbacks.pop(i)
        return None

    def remove_callback(self, callback: Any) -> None:
        """Remove the first callback that is `callback` or an instance of it."""
        self.pop_callback(callback)

    @property
    def callback_list(self) -> str:
        """The callbacks' class names, one a line."""
        return "\n".join(type(cb).__name__ for cb in self.callbacks)

    def call(self, event: str, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Run `event` (e.g. ``"on_step_end"``) on every callback; returns the control."""
        if event not in CALLBACK_EVENTS:
            msg = f"{event!r} is not a callback event; use one of {', '.join(CALLBACK_EVENTS)}"
            raise ValueError(msg)
        for cb in self.callbacks:
            method = getattr(cb, event, None)
            if method is None:
                continue
            if _is_transformers_callback(cb):  # it expects transformers' args, state and control
                from fsm.integrations.callbacks import call_transformers_callback

                control = call_transformers_callback(
                    cb,
                    event,
                    args,
                    state,
                    control,
                    model=self.model,
                    processing_class=self.processing_class,
                    optimizer=self.optimizer,
                    lr_scheduler=self.lr_scheduler,
                    **kwargs,
                )
                continue
            result = method(
                args,
                state,
                control,
                model=self.model,
                processing_class=self.processing_class,
                optimizer=self.optimizer,
                lr_scheduler=self.lr_scheduler,
                **kwargs,
            )
            if result is not None:
                control = result
        return control
