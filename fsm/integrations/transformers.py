"""A drop-in `transformers.Trainer` whose construction runs through the state machine.

Change one import in a transformers script:

    from fsm.integrations.transformers import Trainer   # was: from transformers import Trainer

and the set-up runs as the eleven phases of `fsm.TrainerInit` (events, guards, retry,
audit), leaving an object on which transformers' own `train()`, `evaluate()`,
`save_model()` and `push_to_hub()` work. Each phase here is a bridge: a subclass of the
core phase that does what transformers' `Trainer.__init__` does in that phase, with
transformers' objects (its Accelerator set-up, `CallbackHandler`, `TrainerState`,
`TrainerControl`, label smoother, default collator), sets the same attributes on the
trainer, and undoes them on rollback.

Supported transformers versions: 4.56 to 5.x (tested: 4.56.2 and 5.25.0).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import transformers
import transformers.trainer as _hf_trainer
from transformers.integrations import get_reporting_integration_callbacks
from transformers.trainer_callback import CallbackHandler as HFCallbackHandler
from transformers.trainer_callback import ExportableState, PrinterCallback
from transformers.trainer_callback import TrainerControl as HFTrainerControl
from transformers.trainer_callback import TrainerState as HFTrainerState
from transformers.trainer_pt_utils import LabelSmoother as HFLabelSmoother
from transformers.trainer_utils import TrainerMemoryTracker
from transformers.utils import can_return_loss, find_labels

from events.types import CallbacksRegistered, Finalized, ModelIntrospected, ModelResolved, StateInitialized
from fsm.exceptions import PhaseError, StateError
from fsm.integrations.arguments import (
    PlacementTrainingArguments,
    TrainingArgumentsConfig,
    UnmodelledArgumentsWarning,
    config_from_training_arguments,
    config_to_training_arguments,
    unmodelled_changes,
)
from fsm.integrations.callbacks import call_transformers_callback, is_transformers_callback
from fsm.machine import TrainerInit
from fsm.phases import FAILED, READY
from handlers.accelerator import AcceleratePhase
from handlers.arguments import StorePhase
from handlers.finalize import FinalizePhase, peak_memory
from handlers.introspection import IntrospectPhase
from handlers.model import ResolveModelPhase, describe_model
from handlers.output import PrepareOutputPhase
from handlers.placement import PlacePhase
from handlers.register import RegisterCallbacksPhase
from handlers.strategy import ResolveStrategyPhase
from handlers.trainer_state import InitStatePhase

if TYPE_CHECKING:
    from events.audit import AuditSink
    from events.bus import EventBus
    from fsm.retry import RetryPolicy
    from handlers.base import PhaseHandler
    from handlers.context import SetupContext

__all__ = [
    "MachineCallbackHandler",
    "PlacementTrainingArguments",
    "Trainer",
    "TrainingArgumentsConfig",
    "UnmodelledArgumentsWarning",
    "bridge_phases",
    "call_transformers_callback",
    "config_from_training_arguments",
    "config_to_training_arguments",
    "is_transformers_callback",
    "unmodelled_changes",
]

_MISSING = object()
_TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])


@dataclasses.dataclass(repr=False)
class _DropInConfig(TrainingArgumentsConfig):
    """The drop-in trainer's config: transformers serves `report_to` with its own callbacks."""

    reports_through_transformers: ClassVar[bool] = True
    loss_computed_by_trainer: ClassVar[bool] = False


@dataclasses.dataclass(repr=False)
class _CustomLossConfig(_DropInConfig):
    """The config of a Trainer subclass that overrides `compute_loss`: the guards do not
    require the model itself to compute a loss."""

    loss_computed_by_trainer: ClassVar[bool] = True


class MachineCallbackHandler(HFCallbackHandler):
    """transformers' `CallbackHandler`, also callable the way the machine calls callbacks.

    At Ready the machine runs ``handler.call("on_init_end", config, state, control)``;
    here that is transformers' `call_event` with the trainer's own `TrainingArguments`
    (the very object the user passed) in place of the machine's config.
    """

    training_args: Any = None

    def call(self, event: str, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Run `event` on every callback with transformers' arguments; returns the control."""
        if not isinstance(args, transformers.TrainingArguments):
            args = self.training_args
        return self.call_event(event, args, state, control, **kwargs)


# ---------------------------------------------------------------- bridge phases


class _Bridge:
    """Mixin: a core phase that also sets, and on rollback restores, trainer attributes."""

    trigger: str

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    @property
    def _undo_key(self) -> str:
        return f"{self.trigger}:trainer"

    def _begin(self, ctx: SetupContext) -> None:
        ctx.undo[self._undo_key] = {}

    def _assign(self, ctx: SetupContext, **values: Any) -> None:
        saved = ctx.undo.setdefault(self._undo_key, {})
        for name, value in values.items():
            if name not in saved:
                saved[name] = self.trainer.__dict__.get(name, _MISSING)
            setattr(self.trainer, name, value)

    def _restore(self, ctx: SetupContext) -> None:
        for name, old in (ctx.undo.get(self._undo_key) or {}).items():
            if old is _MISSING:
                self.trainer.__dict__.pop(name, None)
            else:
                setattr(self.trainer, name, old)

    def rollback(self, ctx: SetupContext) -> None:
        try:
            super().rollback(ctx)  # type: ignore[misc]
        finally:
            self._restore(ctx)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(trainer)"


class _Accelerate(_Bridge, AcceleratePhase):
    """Phase 2 as transformers does it: its Accelerator (gradient accumulation is left to the
    training loop), the memory tracker, transformers' log verbosity."""

    def run(self, ctx: SetupContext) -> Any:
        self._begin(ctx)
        previous_verbosity = transformers.logging.get_verbosity()
        fact = super().run(ctx)
        ctx.undo[self._undo_key]["__verbosity__"] = previous_verbosity
        args = self.trainer.args
        transformers.logging.set_verbosity(args.get_process_log_level())
        args._setup_devices  # noqa: B018 - transformers forces device set-up here
        return fact

    def build_accelerator(self, ctx: SetupContext) -> Any:
        trainer = self.trainer
        self._assign(ctx, deepspeed=None, model=ctx.inputs.model)
        for name in ("accelerator", "gather_function", "is_deepspeed_enabled", "is_fsdp_enabled"):
            self._assign(ctx, **{name: trainer.__dict__.get(name)})
        trainer.create_accelerator_and_postprocess()
        return trainer.accelerator

    def _restore(self, ctx: SetupContext) -> None:
        saved = ctx.undo.get(self._undo_key) or {}
        verbosity = saved.pop("__verbosity__", None)
        if verbosity is not None:
            transformers.logging.set_verbosity(verbosity)
        super()._restore(ctx)


class _ResolveModel(_Bridge, ResolveModelPhase):
    """Phase 3: the model, or `model_init` called through the trainer's `call_model_init`."""

    def run(self, ctx: SetupContext) -> ModelResolved:
        import torch

        self._begin(ctx)
        inputs, trainer = ctx.inputs, self.trainer
        if inputs.model is not None and inputs.model_init is not None:
            msg = "`Trainer` requires either a `model` or `model_init` argument, but not both."
            raise ValueError(msg)
        if inputs.model is None and inputs.model_init is None:
            msg = "`Trainer` requires either a `model` or `model_init` argument"
            raise RuntimeError(msg)
        self._assign(ctx, model_init=inputs.model_init)
        if inputs.model is not None:
            model, source = inputs.model, "model"
        else:
            model, source = trainer.call_model_init(), "model_init"
        if not isinstance(model, torch.nn.Module):
            msg = f"the {source} gave a {type(model).__name__}, not a torch.nn.Module"
            raise TypeError(msg)
        if type(model).__name__ in getattr(_hf_trainer, "MODEL_MAPPING_NAMES", {}).values():
            msg = (
                f"{type(model).__name__} only computes hidden states and takes no labels, so it cannot be trained "
                "as is: use a model with a task head (an AutoModelFor... class)"
            )
            raise ValueError(msg)
        validate = getattr(_hf_trainer, "validate_quantization_for_training", None)
        if validate is not None:
            validate(model)
        ctx.model, ctx.model_source = model, source
        return ModelResolved(source=source, **describe_model(model))


class _ResolveStrategy(_Bridge, ResolveStrategyPhase):
    """Phase 4, with transformers' extra reasons not to place the model (XLA FSDP, SageMaker
    model parallel, a model sharded at load time) and its FSDP checks."""

    def run(self, ctx: SetupContext) -> Any:
        self._begin(ctx)
        fact = super().run(ctx)
        trainer, args = self.trainer, self.trainer.args
        fsdp_xla = _fsdp_flag(args, "xla")
        if args.fsdp:
            if trainer.is_deepspeed_enabled:
                msg = "fsdp and deepspeed cannot be used together: set only one of them in the TrainingArguments"
                raise ValueError(msg)
            if not fsdp_xla and args.parallel_mode != transformers.training_args.ParallelMode.DISTRIBUTED:
                msg = "fsdp only works in distributed training: launch with torchrun or accelerate launch"
                raise ValueError(msg)
        loaded_sharded = bool(getattr(ctx.model, "is_distributed_loading_by_transformers", False))
        reasons = list(fact.reasons)
        if ctx.config.place_model_on_device is None:  # not forced by the arguments
            if fsdp_xla:
                reasons.append("XLA FSDP places the model")
            if _hf_trainer.is_sagemaker_mp_enabled():
                reasons.append("SageMaker model parallel places the model")
            if loaded_sharded:
                reasons.append("the model was sharded at load time")
            ctx.place_model_on_device = not reasons
        ctx.placement_reasons = tuple(reasons)
        self._assign(
            ctx,
            is_model_parallel=ctx.is_model_parallel,
            is_distributed_loading_by_transformers=loaded_sharded,
            is_fsdp_xla_enabled=fsdp_xla,
            place_model_on_device=ctx.place_model_on_device,
        )
        return dataclasses.replace(fact, place_model_on_device=ctx.place_model_on_device, reasons=reasons)


def _fsdp_flag(args: Any, key: str) -> Any:
    """An XLA FSDP switch, with the value (not only the truth) transformers gives it.

    transformers 4.x reads ``fsdp_config[key]`` (always filled in); 5.x ``fsdp and ...``,
    which is None or ``[]`` without FSDP. The value is copied so the trainer's attributes
    equal a plain Trainer's.
    """
    config = args.fsdp_config or {}
    if _TRANSFORMERS_MAJOR < 5:
        return config.get(key, False)
    return args.fsdp and config.get(key, False)


class _Place(_Bridge, PlacePhase):
    """Phase 5; the trainer's `model` and `model_wrapped` are the placed model."""

    def run(self, ctx: SetupContext) -> Any:
        self._begin(ctx)
        fact = super().run(ctx)
        if ctx.is_model_parallel:
            self.trainer.args._n_gpu = 1  # model parallel manages the GPUs: no DataParallel
        self._assign(ctx, model_wrapped=ctx.model, model=ctx.model)
        return fact


def _unwrap_peft(model: Any) -> Any:
    unwrap = getattr(_hf_trainer, "unwrap_peft_model", None)
    if unwrap is not None:
        return unwrap(model)
    is_peft = getattr(_hf_trainer, "_is_peft_model", None)
    if is_peft is not None and is_peft(model) and hasattr(model, "get_base_model"):
        return model.get_base_model()
    return model


class _Introspect(_Bridge, IntrospectPhase):
    """Phase 6 with transformers' rules: label names and `can_return_loss` from the model
    class, loss kwargs from the unwrapped forward, transformers' `LabelSmoother`."""

    def run(self, ctx: SetupContext) -> ModelIntrospected:
        self._begin(ctx)
        trainer, args = self.trainer, self.trainer.args
        model = ctx.model
        unwrapped = _unwrap_peft(trainer.accelerator.unwrap_model(model))
        if hasattr(unwrapped, "accepts_loss_kwargs"):
            accepts = bool(unwrapped.accepts_loss_kwargs)
        else:
            params = inspect.signature(unwrapped.forward).parameters.values()
            accepts = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        parallelism = getattr(trainer.accelerator, "parallelism_config", None)
        if parallelism is not None and getattr(parallelism, "sp_backend", None) == "deepspeed":
            accepts = accepts and not getattr(parallelism, "sp_enabled", False)  # SP counts its own tokens
        inspected = _unwrap_peft(model)
        label_names = list(args.label_names) if args.label_names is not None else find_labels(type(inspected))
        returns_loss = can_return_loss(type(inspected))
        smoothing = args.label_smoothing_factor
        smoother = None
        if smoothing:
            if getattr(getattr(model, "config", None), "problem_type", None) == "multi_label_classification":
                warnings.warn(
                    "label smoothing is not defined for multi-label classification; it is off for this run",
                    UserWarning,
                    stacklevel=2,
                )
                smoothing = 0.0
            else:
                smoother = HFLabelSmoother(epsilon=smoothing)
        values: dict[str, Any] = {
            "model_accepts_loss_kwargs": accepts,
            "label_names": label_names,
            "can_return_loss": returns_loss,
            "label_smoother": smoother,
        }
        loss_mapping = getattr(_hf_trainer, "LOSS_MAPPING", None)
        causal_loss = getattr(_hf_trainer, "ForCausalLMLoss", None)
        if loss_mapping is not None and causal_loss is not None:  # transformers 5: causal losses shift labels
            model_config = getattr(inspected, "config", None)
            values["_loss_shifts_labels"] = loss_mapping.get(
                getattr(inspected, "loss_type", None)
            ) is causal_loss and not getattr(model_config, "is_encoder_decoder", False)
        values.update(_legacy_amp(trainer))
        self._assign(ctx, **values)
        ctx.label_names = label_names
        ctx.model_accepts_loss_kwargs = accepts
        ctx.can_return_loss = returns_loss
        ctx.label_smoother = smoother
        return ModelIntrospected(
            label_names=list(label_names),
            model_accepts_loss_kwargs=accepts,
            can_return_loss=returns_loss,
            label_smoothing_factor=smoothing,
        )


def _legacy_amp(trainer: Trainer) -> dict[str, Any]:
    """The autocast flags transformers 4.x keeps on the trainer (5.x leaves autocast to accelerate)."""
    args = trainer.args
    if not hasattr(args, "half_precision_backend"):
        return {}
    import torch

    values: dict[str, Any] = {"use_apex": False, "use_cpu_amp": False}
    half = args.fp16 or args.bf16
    if half and args.half_precision_backend == "auto" and args.device == torch.device("cpu") and not args.fp16:
        args.half_precision_backend = "cpu_amp"
    if half and not trainer.is_deepspeed_enabled:
        if args.half_precision_backend == "cpu_amp":
            values.update(use_cpu_amp=True, amp_dtype=torch.bfloat16)
        elif args.half_precision_backend == "apex":
            values["use_apex"] = True
    return values


def _default_collator(processing_class: Any) -> Any:
    padding_types = (transformers.PreTrainedTokenizerBase, transformers.SequenceFeatureExtractor)
    if processing_class is not None and isinstance(processing_class, padding_types):
        return transformers.DataCollatorWithPadding(processing_class)
    return transformers.default_data_collator


class _Store(_Bridge, StorePhase):
    """Phase 7 with transformers' default collator (padding when a tokenizer is given) and
    its argument checks (`Trainer._validate_args`)."""

    def run(self, ctx: SetupContext) -> Any:
        self._begin(ctx)
        fact = super().run(ctx)
        if ctx.inputs.data_collator is None:
            ctx.data_collator = _default_collator(ctx.processing_class)
            name = getattr(ctx.data_collator, "__qualname__", type(ctx.data_collator).__qualname__)
            fact = dataclasses.replace(fact, data_collator=name, default_collator=True)
        self._assign(
            ctx,
            data_collator=ctx.data_collator,
            train_dataset=ctx.train_dataset,
            eval_dataset=ctx.eval_dataset,
            processing_class=ctx.processing_class,
            neftune_noise_alpha=self.trainer.args.neftune_noise_alpha,
            compute_loss_func=ctx.compute_loss_func,
            compute_metrics=ctx.compute_metrics,
            preprocess_logits_for_metrics=ctx.preprocess_logits_for_metrics,
            optimizer=ctx.optimizer,
            lr_scheduler=ctx.lr_scheduler,
            optimizer_cls_and_kwargs=ctx.optimizer_cls_and_kwargs,
        )
        validate = getattr(self.trainer, "_validate_args", None)
        if callable(validate):
            validate()
        return fact


class _RegisterCallbacks(_Bridge, RegisterCallbacksPhase):
    """Phase 8 with transformers' callbacks: `DefaultFlowCallback`, the `report_to`
    integrations, the user's callbacks, then the progress bar or printer."""

    def run(self, ctx: SetupContext) -> CallbacksRegistered:
        self._begin(ctx)
        trainer, args = self.trainer, self.trainer.args
        callbacks: list[Any] = [*_hf_trainer.DEFAULT_CALLBACKS, *get_reporting_integration_callbacks(args.report_to)]
        if getattr(args, "enable_jit_checkpoint", False):
            from transformers.trainer_jit_checkpoint import JITCheckpointCallback

            jit = JITCheckpointCallback()
            jit.set_trainer(trainer)
            callbacks.append(jit)
        callbacks.extend(ctx.inputs.callbacks or ())
        handler = MachineCallbackHandler(callbacks, ctx.model, ctx.processing_class, ctx.optimizer, ctx.lr_scheduler)
        handler.training_args = args
        self._assign(ctx, callback_handler=handler)
        trainer.add_callback(PrinterCallback if args.disable_tqdm else _hf_trainer.DEFAULT_PROGRESS_CALLBACK)
        ctx.callback_handler = handler
        names = [type(cb).__name__ for cb in handler.callbacks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        return CallbacksRegistered(callbacks=names, duplicates=duplicates)


class _PrepareOutput(_Bridge, PrepareOutputPhase):
    """Phase 9: the output directory as the core does it; the hub repository through the
    trainer's `init_hf_repo`, so that `push_to_hub()` finds it later."""

    def run(self, ctx: SetupContext) -> Any:
        self._begin(ctx)
        self._assign(ctx, hub_model_id=None)
        config = ctx.config
        ctx.config = config.replace(push_to_hub=False) if config.push_to_hub else config
        try:
            fact = super().run(ctx)
        finally:
            ctx.config = config
        if self.trainer.args.push_to_hub:
            self._assign(ctx, push_in_progress=self.trainer.__dict__.get("push_in_progress"))  # recorded for undo
            self.trainer.init_hf_repo()
            ctx.hub_repo_id = self.trainer.hub_model_id
            fact = dataclasses.replace(fact, hub_repo=ctx.hub_repo_id)
        return fact


class _InitState(_Bridge, InitStatePhase):
    """Phase 10: transformers' `TrainerState` and `TrainerControl`, and the trainer's
    bookkeeping for the training loop."""

    def run(self, ctx: SetupContext) -> StateInitialized:
        self._begin(ctx)
        trainer, args = self.trainer, self.trainer.args
        control = HFTrainerControl()
        exportable = [cb for cb in [*ctx.callback_handler.callbacks, control] if isinstance(cb, ExportableState)]
        state = HFTrainerState(
            is_local_process_zero=trainer.is_local_process_zero(),
            is_world_process_zero=trainer.is_world_process_zero(),
            stateful_callbacks=exportable,
        )
        if (
            getattr(trainer, "is_distributed_loading_by_transformers", False)
            and args.save_strategy != "no"
            and not args.save_only_model
        ):
            msg = (
                "a model sharded at load time cannot save optimizer state for resuming: "
                "pass save_only_model=True or save_strategy='no'"
            )
            raise ValueError(msg)
        self._assign(
            ctx,
            control=control,
            state=state,
            is_in_train=False,
            hp_name=None,
            hp_search_backend=None,
            current_flos=0,
            _loggers_initialized=False,
            _signature_columns=None,
            _train_batch_size=args.train_batch_size,
            _created_lr_scheduler=False,
            _mixed_mesh_grads=None,
        )
        ctx.state, ctx.control = state, control
        return StateInitialized(
            global_step=state.global_step,
            max_steps=state.max_steps,
            train_batch_size=state.train_batch_size,
            stateful_callbacks=sorted(state.stateful_callbacks),
        )


class _Finalize(_Bridge, FinalizePhase):
    """Phase 11: `use_cache` as the core does it, and transformers' XLA FSDP flags."""

    def run(self, ctx: SetupContext) -> Any:
        self._begin(ctx)
        args = self.trainer.args
        v2 = _fsdp_flag(args, "xla_fsdp_v2")
        if v2:
            msg = (
                "XLA FSDPv2 (fsdp_config['xla_fsdp_v2']) is not supported by the trainer-fsm bridge; "
                "use transformers.Trainer for it"
            )
            raise NotImplementedError(msg)
        if hasattr(args, "use_cache"):
            fact = super().run(ctx)
        else:  # transformers 4.x leaves the model's use_cache alone
            ctx.memory_metrics = {} if ctx.config.skip_memory_metrics else peak_memory()
            fact = Finalized(use_cache=None, memory=dict(ctx.memory_metrics))
        self._assign(
            ctx,
            is_fsdp_xla_v2_enabled=v2,
            is_fsdp_xla_v1_enabled=getattr(self.trainer, "is_fsdp_xla_enabled", None) and not v2,
        )
        return fact


_BRIDGES: dict[str, type[_Bridge]] = {
    "accelerate": _Accelerate,
    "resolve_model": _ResolveModel,
    "resolve_strategy": _ResolveStrategy,
    "place": _Place,
    "introspect": _Introspect,
    "store": _Store,
    "register_callbacks": _RegisterCallbacks,
    "prepare_output": _PrepareOutput,
    "init_state": _InitState,
    "finalize": _Finalize,
}


def bridge_phases(trainer: Trainer) -> dict[str, PhaseHandler]:
    """The phase objects that set up `trainer` as transformers would, by trigger.

    `seed` is the core phase (it seeds python, numpy and torch as transformers does).
    """
    return {trigger: cls(trainer) for trigger, cls in _BRIDGES.items()}  # type: ignore[misc]


# ---------------------------------------------------------------- the trainer


class _DropInInit(TrainerInit):
    """The drop-in trainer's machine: `reconfigure` is refused (the trainer keeps the
    user's `TrainingArguments`, which a config change would leave behind)."""

    def reconfigure(self, **changes: Any) -> str:
        msg = (
            "reconfigure() is not available on a transformers Trainer's set-up: its TrainingArguments would "
            "no longer match; build a new Trainer with the changed TrainingArguments instead"
        )
        raise StateError(msg)


class Trainer(transformers.Trainer):
    """`transformers.Trainer`, set up by trainer-fsm's state machine.

    Takes the parent's arguments, in the parent's order, plus trainer-fsm's options:

    Args:
        bus: an `events.EventBus` to emit the set-up's events on (a new one by default).
        retry: a `RetryPolicy`, or a mapping of trigger to policy.
        audit: the audit log, as `TrainerInit(audit=...)`: True (the default) writes
            ``<output_dir>/trainer_fsm_audit.jsonl``, a path writes there, False none.
        handlers: phase objects replacing the bridge's, by trigger.
        log: as `TrainerInit(log=...)`.

    When a phase fails for good, the constructor raises `PhaseError` (the machine is in
    Failed); the error's `trainer` attribute is the half-built trainer, whose `retry()`
    re-runs the failed phase and goes on to Ready:

        try:
            trainer = Trainer(model_init=build, args=args)
        except PhaseError as err:
            trainer = err.trainer.retry()

    After construction `trainer.fsm` is the `TrainerInit` (state, events, setup).
    """

    def __init__(
        self,
        model: Any = None,
        args: Any = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        model_init: Callable[..., Any] | None = None,
        compute_loss_func: Callable[..., Any] | None = None,
        compute_metrics: Callable[..., Any] | None = None,
        callbacks: Iterable[Any] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        optimizer_cls_and_kwargs: tuple[type, dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable[..., Any] | None = None,
        *,
        bus: EventBus | None = None,
        retry: RetryPolicy | Mapping[str, RetryPolicy] | None = None,
        audit: bool | str | os.PathLike[str] | AuditSink = True,
        handlers: Mapping[str, PhaseHandler] | None = None,
        log: bool | Callable[[Any], Any] = True,
    ) -> None:
        if args is None:
            args = transformers.TrainingArguments(output_dir="tmp_trainer")
        self.args = args
        phases: dict[str, PhaseHandler] = bridge_phases(self)
        phases.update(handlers or {})
        config = config_from_training_arguments(args, warn=False)
        custom_loss = type(self).compute_loss is not transformers.Trainer.compute_loss
        config_cls = _CustomLossConfig if custom_loss else _DropInConfig
        self.fsm = _DropInInit(
            config_cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}),
            model=model,
            model_init=model_init,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=data_collator,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            handlers=phases,
            compute_loss_func=compute_loss_func,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
            retry=retry,
            bus=bus,
            log=log,
            audit=audit,
        )
        # The tracker names its stage after the caller, so it starts and stops here.
        self._memory_tracker = TrainerMemoryTracker(args.skip_memory_metrics)
        self._memory_tracker.start()
        self._drive(self.fsm.run)
        self._memory_tracker.stop_and_update_metrics()

    def _drive(self, step: Callable[[], Any]) -> None:
        try:
            step()
        except PhaseError as err:
            err.trainer = self  # type: ignore[attr-defined]
            raise

    def retry(self) -> Trainer:
        """Re-run the phase that failed, then the rest, to Ready; returns the trainer.

        Raises:
            StateError: nothing failed (the machine is not in Failed).
            PhaseError: a phase failed again (its `trainer` attribute is this trainer).
        """
        if self.fsm.state != FAILED:
            msg = f"retry() needs a failed set-up, but the machine is in {self.fsm.state}"
            raise StateError(msg)
        return self.resume()

    def resume(self) -> Trainer:
        """Go on to Ready from wherever the set-up stopped (retrying a failed phase first)."""
        if self.fsm.state == READY:
            return self
        # the init stage's memory metrics are lost: the tracker cannot be stopped from here
        self._memory_tracker = TrainerMemoryTracker(True)
        self._drive(self.fsm.resume)
        return self
