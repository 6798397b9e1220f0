"""`InitConfig`: the training arguments a set-up reads.

Field names, defaults and meanings follow transformers' `TrainingArguments` (5.x)
wherever the two overlap, so a user moving from transformers keeps their names. The
config is plain data: it validates nothing itself. The guards (`fsm.validate`) check it
and report every problem at once; `from_dict` only rejects keys it does not know.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from events.redact import redact, register_secret
from fsm.exceptions import ConfigError

__all__ = ["InitConfig", "LOG_LEVELS"]

LOG_LEVELS = ("passive", "debug", "info", "warning", "error", "critical")
"""Accepted values of `log_level` and `log_level_replica` (as in transformers)."""

DEFAULT_OUTPUT_DIR = "trainer_output"


@dataclass
class InitConfig:
    """The arguments of one training set-up (a subset of transformers' TrainingArguments).

    Secrets (`hub_token`) are redacted by `repr`, `str` and `to_dict`; read the field
    itself to get the value.
    """

    # output and hub
    output_dir: str | None = None
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_token: str | None = field(default=None, repr=False)
    hub_private_repo: bool | None = None
    hub_strategy: str = "every_save"
    hub_revision: str | None = None

    # seeding
    seed: int = 42
    data_seed: int | None = None
    full_determinism: bool = False

    # devices and precision
    use_cpu: bool = False
    fp16: bool = False
    bf16: bool = False
    fp16_full_eval: bool = False
    bf16_full_eval: bool = False
    tf32: bool | None = None
    place_model_on_device: bool | None = None

    # distributed strategies
    fsdp: str | list[str] | None = None
    fsdp_config: dict[str, Any] | None = None
    deepspeed: str | dict[str, Any] | None = None
    ddp_backend: str | None = None
    ddp_timeout: int = 1800
    ddp_find_unused_parameters: bool | None = None

    # batches and steps
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    eval_accumulation_steps: int | None = None
    max_steps: int = -1
    num_train_epochs: float = 3.0
    auto_find_batch_size: bool = False

    # optimiser and schedule
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    optim: str = "adamw_torch"
    optim_args: str | None = None
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: dict[str, Any] | None = None
    warmup_steps: float = 0

    # evaluation, saving, logging
    eval_strategy: str = "no"
    eval_steps: float | None = None
    eval_delay: float = 0
    eval_on_start: bool = False
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: int | None = None
    save_only_model: bool = False
    logging_strategy: str = "steps"
    logging_steps: float = 500
    logging_first_step: bool = False
    logging_nan_inf_filter: bool = True
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    prediction_loss_only: bool = False
    torch_empty_cache_steps: int | None = None

    # model behaviour
    label_names: list[str] | None = None
    label_smoothing_factor: float = 0.0
    use_cache: bool = False
    gradient_checkpointing: bool = False
    remove_unused_columns: bool = True

    # data loading
    dataloader_num_workers: int = 0
    dataloader_prefetch_factor: int | None = None
    dataloader_pin_memory: bool = True
    dataloader_drop_last: bool = False
    dataloader_persistent_workers: bool = False

    # reporting and display
    report_to: str | list[str] = "none"
    run_name: str | None = None
    disable_tqdm: bool | None = None
    log_level: str = "passive"
    log_level_replica: str = "warning"
    skip_memory_metrics: bool = True

    def __post_init__(self) -> None:
        register_secret(self.hub_token)

    # ------------------------------------------------------------ construction

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every field, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InitConfig:
        """Build a config from a mapping; unknown keys are rejected, all at once.

        Raises:
            ConfigError: when `data` is not a mapping or has keys `InitConfig` lacks;
                the message suggests the closest known name for each.
        """
        if not isinstance(data, Mapping):
            msg = f"InitConfig.from_dict expects a mapping of field names to values, got {type(data).__name__}"
            raise ConfigError(msg)
        known = cls.field_names()
        unknown = [k for k in data if k not in known]
        if unknown:
            lines = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                lines.append(f"  - {key!r}{hint}")
            msg = (
                "InitConfig has no field(s):\n"
                + "\n".join(lines)
                + ("\nRemove them or use the TrainingArguments names that InitConfig lists (InitConfig.field_names()).")
            )
            raise ConfigError(msg)
        return cls(**dict(data))

    @classmethod
    def from_training_arguments(cls, args: Any) -> InitConfig:
        """A config from transformers `TrainingArguments`, losing no field.

        The fields `InitConfig` lacks are carried in the result's `passthrough` (it is a
        `fsm.integrations.arguments.TrainingArgumentsConfig`) and named in an
        `UnmodelledArgumentsWarning` when they differ from transformers' defaults.
        Needs transformers (``pip install trainer-fsm[transformers]``).
        """
        from fsm.integrations.arguments import config_from_training_arguments

        return config_from_training_arguments(args)

    def to_training_arguments(self) -> Any:
        """transformers `TrainingArguments` with these fields (and any carried `passthrough`)."""
        from fsm.integrations.arguments import config_to_training_arguments

        return config_to_training_arguments(self)

    def replace(self, **changes: Any) -> InitConfig:
        """A copy with `changes` applied; unknown names are rejected like `from_dict`."""
        merged = {**self.to_dict(redact_secrets=False), **changes}
        return type(self).from_dict(merged)

    # ------------------------------------------------------------ reading

    def to_dict(self, *, redact_secrets: bool = True) -> dict[str, Any]:
        """The fields as a JSON-able dict; secrets are redacted unless asked otherwise."""
        data = {f.name: _copy_value(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return redact(data) if redact_secrets else data

    def diff(self, other: InitConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self's value, other's value)}``."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    @property
    def resolved_output_dir(self) -> str:
        """`output_dir`, or transformers' default ``"trainer_output"`` when unset."""
        return self.output_dir or DEFAULT_OUTPUT_DIR

    @property
    def mixed_precision(self) -> str:
        """The accelerate mixed-precision mode: ``"fp16"``, ``"bf16"`` or ``"no"``."""
        if self.fp16:
            return "fp16"
        if self.bf16:
            return "bf16"
        return "no"

    @property
    def report_to_list(self) -> list[str]:
        """`report_to` as a list of integration names (``"none"`` gives ``[]``)."""
        names = [self.report_to] if isinstance(self.report_to, str) else list(self.report_to or [])
        return [n for n in names if n != "none"]

    @property
    def fsdp_list(self) -> list[str]:
        """`fsdp` options as a list (``"full_shard auto_wrap"`` gives two)."""
        if not self.fsdp:
            return []
        if isinstance(self.fsdp, str):
            return self.fsdp.split()
        return list(self.fsdp)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"InitConfig({shown})"

    __str__ = __repr__


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_value(v) for v in value]
    return value
