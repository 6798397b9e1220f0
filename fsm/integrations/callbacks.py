"""Call a transformers `TrainerCallback` with the objects it expects.

trainer-fsm's `CallbackHandler` passes its own `InitConfig`, `TrainerState` and
`TrainerControl`. A callback written for transformers may read attributes only
transformers' classes have, so `call_transformers_callback` hands it transformers'
`TrainingArguments` (from `config.to_training_arguments()`, cached per config),
`TrainerState` and `TrainerControl` built from trainer-fsm's, then copies what the
callback changed back. Objects that already are transformers' pass through unchanged.
Core callbacks keep getting trainer-fsm's objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformers import TrainerControl as HFTrainerControl
from transformers import TrainerState as HFTrainerState
from transformers import TrainingArguments

__all__ = ["call_transformers_callback", "is_transformers_callback"]

# id(config) -> (config's fields when converted, the TrainingArguments); a config is
# converted again when it changed.
_ARGUMENTS_CACHE: dict[int, tuple[Any, dict[str, Any], Any]] = {}
_CACHE_SIZE = 16


def is_transformers_callback(callback: Any) -> bool:
    """Whether `callback` (an instance or a class) derives from transformers' TrainerCallback."""
    cls = callback if isinstance(callback, type) else type(callback)
    return any(k.__name__ == "TrainerCallback" and k.__module__.startswith("transformers.") for k in cls.__mro__)


def _arguments_for(config: Any) -> Any:
    if isinstance(config, TrainingArguments):
        return config
    fields = config.to_dict(redact_secrets=False)
    cached = _ARGUMENTS_CACHE.get(id(config))
    if cached is not None and cached[0] is config and cached[1] == fields:
        return cached[2]
    args = config.to_training_arguments()
    if len(_ARGUMENTS_CACHE) >= _CACHE_SIZE:
        _ARGUMENTS_CACHE.pop(next(iter(_ARGUMENTS_CACHE)))
    _ARGUMENTS_CACHE[id(config)] = (config, fields, args)
    return args


def _field_names(obj: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else []


def _convert(obj: Any, target_cls: type[Any]) -> Any:
    if obj is None or isinstance(obj, target_cls):
        return obj
    known = {f.name for f in dataclasses.fields(target_cls)}
    return target_cls(**{name: getattr(obj, name) for name in _field_names(obj) if name in known})


def _copy_back(source: Any, target: Any) -> None:
    if source is None or target is None or source is target:
        return
    known = set(_field_names(source))
    for name in _field_names(target):
        if name in known:
            setattr(target, name, getattr(source, name))


def call_transformers_callback(callback: Any, event: str, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
    """Run `callback.<event>` with transformers objects; returns trainer-fsm's `control`.

    What the callback sets on the state or the control (or the control it returns) is
    copied back to the objects the caller passed.
    """
    hf_args = _arguments_for(args)
    hf_state = _convert(state, HFTrainerState)
    hf_control = _convert(control, HFTrainerControl)
    result = getattr(callback, event)(hf_args, hf_state, hf_control, **kwargs)
    returned = result if result is not None else hf_control
    _copy_back(hf_state, state)
    _copy_back(returned, control)
    return control
