"""`InitConfig` <-> transformers `TrainingArguments`, without losing a field.

`config_from_training_arguments(args)` (also `InitConfig.from_training_arguments`) reads
the fields both classes know into a `TrainingArgumentsConfig`, an `InitConfig` that
carries every other field of `args` in `passthrough` (enums as their string values) and
the arguments' class in `arguments_class`. `config_to_training_arguments(config)` (also
`config.to_training_arguments()`) builds the arguments back: the same class, the
modelled fields from the config, the rest from `passthrough`. So

    InitConfig.from_training_arguments(args).to_training_arguments()

equals `args` field for field. The unmodelled fields that differ from transformers'
defaults are reported with an `UnmodelledArgumentsWarning`: the core phases do not act
on them (transformers does, through `fsm.integrations.transformers.Trainer`).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import transformers

from events.redact import is_secret_name, register_secret
from fsm.config import InitConfig
from fsm.exceptions import ConfigError

__all__ = [
    "PlacementTrainingArguments",
    "TrainingArgumentsConfig",
    "UnmodelledArgumentsWarning",
    "config_from_training_arguments",
    "config_to_training_arguments",
    "unmodelled_changes",
]

_DEFAULT_CLASS = "transformers.training_args:TrainingArguments"


class UnmodelledArgumentsWarning(UserWarning):
    """Issued when TrainingArguments set fields that trainer-fsm's phases do not read.

    The values are kept (`TrainingArgumentsConfig.passthrough`) and restored by
    `to_training_arguments()`; only the core set-up ignores them.
    """


@dataclass
class PlacementTrainingArguments(transformers.TrainingArguments):
    """`TrainingArguments` whose `place_model_on_device` is a field, not a fixed property.

    transformers reads ``args.place_model_on_device`` (None: decide from the strategy)
    and documents overriding it in a subclass; `to_training_arguments()` uses this class
    when the config forces placement on or off.
    """

    place_model_on_device: bool | None = None  # type: ignore[assignment]


@dataclass(repr=False)
class TrainingArgumentsConfig(InitConfig):
    """An `InitConfig` made from transformers `TrainingArguments`.

    `passthrough` holds the arguments' fields that `InitConfig` does not model, and
    `arguments_class` the class to build them back with (``"module:QualName"``).
    """

    passthrough: dict[str, Any] = field(default_factory=dict)
    arguments_class: str = _DEFAULT_CLASS

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, value in self.passthrough.items():  # 4.x's push_to_hub_token, say
            if isinstance(value, str) and is_secret_name(name):
                register_secret(value)

    reports_through_transformers: ClassVar[bool] = False
    """Whether transformers' own callbacks serve `report_to` (the drop-in `Trainer`'s
    config); the guards then accept every integration transformers knows."""


def _plain(value: Any) -> Any:
    """A TrainingArguments value as plain data: enums by value, config objects as dicts."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and callable(getattr(value, "to_dict", None)):
        return value.to_dict()  # AcceleratorConfig: TrainingArguments takes the dict back
    return value


def _init_fields(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _declared_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _class_path(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_class(path: str) -> type[Any]:
    module, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        msg = f"arguments_class={path!r} cannot be imported ({exc}); set it to {_DEFAULT_CLASS!r}"
        raise ConfigError(msg) from exc
    if not (isinstance(target, type) and issubclass(target, transformers.TrainingArguments)):
        msg = f"arguments_class={path!r} is not a TrainingArguments class; set it to {_DEFAULT_CLASS!r}"
        raise ConfigError(msg)
    return target


@functools.lru_cache(maxsize=8)
def _defaults(cls: type[Any]) -> dict[str, Any]:
    """The values of a default-constructed `cls` (after its ``__post_init__``), by field."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            default = cls()
        except Exception:  # a subclass with required fields: fall back to the declared defaults
            default = None
    out = {}
    for name, f in _init_fields(cls).items():
        if default is not None:
            out[name] = _plain(getattr(default, name))
        elif f.default is not dataclasses.MISSING:
            out[name] = _plain(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            out[name] = _plain(f.default_factory())
    return out


# Carried fields that transformers keeps equal to a modelled field (new name: old name).
_ALIASES = {"activation_checkpointing": "gradient_checkpointing"}


def unmodelled_changes(config: TrainingArgumentsConfig) -> dict[str, Any]:
    """The carried fields whose values differ from their class's defaults, by name.

    A field that only mirrors a modelled one (transformers 5's `activation_checkpointing`
    mirrors `gradient_checkpointing`) is not counted.
    """
    defaults = _defaults(_resolve_class(config.arguments_class))
    changed = {}
    for name, value in config.passthrough.items():
        if name in defaults and defaults[name] == value:
            continue
        if name in _ALIASES and value == getattr(config, _ALIASES[name]):
            continue
        if name == "logging_dir" and _is_default_logging_dir(value, config.resolved_output_dir):
            continue
        changed[name] = value
    return changed


def _is_default_logging_dir(value: Any, output_dir: str) -> bool:
    """transformers 4.x derives logging_dir as ``<output_dir>/runs/<time>_<host>``."""
    return isinstance(value, str) and os.path.dirname(value) == os.path.join(output_dir, "runs")


def _forced_placement(args: Any) -> bool | None:
    """`args.place_model_on_device` when a subclass sets it; None for transformers' own property.

    transformers 5's property says None ("decide from the strategy"); 4.x's says True
    (outside SageMaker), a default the strategy may still overrule: neither is a choice.
    """
    if type(args).place_model_on_device is transformers.TrainingArguments.place_model_on_device:
        return None
    return args.place_model_on_device


def config_from_training_arguments(args: Any, *, warn: bool = True) -> TrainingArgumentsConfig:
    """An `InitConfig` holding every field of `args` (see the module docstring).

    Args:
        args: a transformers `TrainingArguments` (or a subclass of it).
        warn: issue an `UnmodelledArgumentsWarning` naming the carried fields that
            differ from transformers' defaults (the drop-in `Trainer` turns it off:
            transformers acts on them there).

    Raises:
        ConfigError: `args` is not a TrainingArguments.
    """
    if not isinstance(args, transformers.TrainingArguments):
        msg = (
            f"from_training_arguments expects a transformers.TrainingArguments, got {type(args).__name__}; "
            "for a mapping of fields use InitConfig.from_dict"
        )
        raise ConfigError(msg)
    known = set(InitConfig.field_names())
    values: dict[str, Any] = {}
    passthrough: dict[str, Any] = {}
    for name in _init_fields(type(args)):
        value = _plain(getattr(args, name))
        (values if name in known else passthrough)[name] = value
    values["place_model_on_device"] = _forced_placement(args)
    config = TrainingArgumentsConfig(**values, passthrough=passthrough, arguments_class=_class_path(type(args)))
    if warn:
        changed = unmodelled_changes(config)
        if changed:
            warnings.warn(
                "these TrainingArguments fields are carried in config.passthrough but not acted on by "
                f"trainer-fsm's phases: {', '.join(sorted(changed))} "
                "(use fsm.integrations.transformers.Trainer to have transformers act on them)",
                UnmodelledArgumentsWarning,
                stacklevel=3,
            )
    return config


def config_to_training_arguments(config: InitConfig) -> Any:
    """transformers `TrainingArguments` with the config's fields (and its passthrough).

    Raises:
        ConfigError: a field cannot be carried by the target class (a config field the
            installed transformers lacks, set to a non-default value; or a forced
            `place_model_on_device` with a TrainingArguments subclass of the user's).
    """
    if not isinstance(config, InitConfig):
        msg = f"to_training_arguments needs an InitConfig, got {type(config).__name__}"
        raise ConfigError(msg)
    passthrough = dict(getattr(config, "passthrough", {}) or {})
    cls = _resolve_class(getattr(config, "arguments_class", _DEFAULT_CLASS))
    target = _init_fields(cls)
    kwargs: dict[str, Any] = {}
    lost = []
    for f in dataclasses.fields(InitConfig):
        value = getattr(config, f.name)
        if f.name == "place_model_on_device":
            continue
        if f.name in target:
            if value is None and _declared_default(target[f.name]) is not None:
                continue  # None means "unset" in InitConfig: keep transformers' default (4.x's fsdp="")
            kwargs[f.name] = value
        elif value != (f.default if f.default is not dataclasses.MISSING else f.default_factory()):  # type: ignore[misc]
            lost.append(f.name)
    if "activation_checkpointing" in target:
        # transformers 5 renamed gradient_checkpointing; passing the old name warns
        kwargs["activation_checkpointing"] = config.gradient_checkpointing
        kwargs.pop("gradient_checkpointing", None)
        passthrough.pop("gradient_checkpointing", None)
        passthrough.pop("activation_checkpointing", None)
    unknown = sorted(set(passthrough) - set(target))
    if lost or unknown:
        names = ", ".join(lost + unknown)
        msg = (
            f"{cls.__name__} of transformers {transformers.__version__} has no field(s) {names}; "
            "reset them to their defaults (or drop them from config.passthrough) to convert this config"
        )
        raise ConfigError(msg)
    kwargs.update({k: v for k, v in passthrough.items() if k not in kwargs})
    place = config.place_model_on_device
    if place is not None:
        if "place_model_on_device" not in target and cls is transformers.TrainingArguments:
            cls = PlacementTrainingArguments
        if "place_model_on_device" in _init_fields(cls):
            kwargs["place_model_on_device"] = place
    args = cls(**kwargs)
    if place is not None and _forced_placement(args) != place:
        msg = (
            f"place_model_on_device={place!r} cannot be carried by {cls.__name__}; "
            "set it to None, or give that class a place_model_on_device field"
        )
        raise ConfigError(msg)
    return args
