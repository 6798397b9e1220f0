"""Rules on types: every config field holds a value of its declared type.

The declared types are read from `InitConfig`'s annotations. `bool` is not a number
here (``per_device_train_batch_size=True`` is a mistake, not 1), an int is accepted
where a float is declared, floats must be finite, and a list of strings may also be
given as a tuple. A field with the wrong type is reported here once; the other rules
skip it (see `fsm.guards.Rule.violations`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from fsm.config import InitConfig
from fsm.guards import GuardSubject, rule

__all__ = ["INPUT_NAMES", "mistyped_fields"]

_SECRET = re.compile(r"token|secret|password", re.IGNORECASE)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# annotation: (exact types accepted at once, check for other values (subclasses, containers), words)
_KINDS: dict[str, tuple[tuple[type, ...], Any, str]] = {
    "str": ((str,), lambda v: isinstance(v, str), "a string"),
    "bool": ((bool,), lambda v: isinstance(v, bool), "True or False"),
    "int": ((int,), _is_int, "an int"),
    "float": ((int,), _is_float, "a finite number"),  # a float is checked for being finite
    "list[str]": ((), _is_str_list, "a list of strings"),
    "dict[str, Any]": ((dict,), lambda v: isinstance(v, Mapping), "a dict"),
}


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    nullable: bool
    exact: frozenset[type]
    checks: tuple[Any, ...]
    wanted: str


@functools.lru_cache(maxsize=1)
def _field_specs() -> tuple[_Spec, ...]:
    """One `_Spec` per field whose annotation this rule understands, in declaration order."""
    specs = []
    for f in dataclasses.fields(InitConfig):
        parts = [p.strip() for p in str(f.type).split("|")]
        types = [p for p in parts if p != "None"]
        if not all(p in _KINDS for p in types):
            continue  # a type this rule does not know: accept anything
        kinds = [_KINDS[p] for p in types]
        exact = frozenset(t for k in kinds for t in k[0])
        words = [k[2] for k in kinds] + (["None"] if "None" in parts else [])
        specs.append(_Spec(f.name, "None" in parts, exact, tuple(k[1] for k in kinds), " or ".join(words)))
    return tuple(specs)


def mistyped_fields(config: InitConfig) -> list[str]:
    """Names of the fields of `config` whose values have the wrong type, in declaration order."""
    values = config.__dict__
    bad = []
    for spec in _field_specs():
        value = values.get(spec.name)
        if type(value) in spec.exact or (value is None and spec.nullable):
            continue
        if not any(check(value) for check in spec.checks):
            bad.append(spec.name)
    return bad


def _shown(name: str, value: Any) -> str:
    if _SECRET.search(name):
        return f"a value of type {type(value).__name__}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _hint(name: str, value: Any, wanted: str) -> str:
    if isinstance(value, bool) and ("int" in wanted or "number" in wanted):
        return f"bool is not a number here: give {name} a number (1, not True)"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if "number" in wanted or "int" in wanted:
                extra = " (YAML reads 1e-4 as a string: write 1.0e-4)" if "e" in value.lower() else ""
                return f"write the number without quotes: {name}={number:g}{extra}"
        if "True or False" in wanted and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return f"write {name}=True or {name}=False, not a string"
        if "list of strings" in wanted:
            return f"give a list: {name}=[{value!r}]"
    if name == "fsdp" and value is True:
        return "name the sharding: fsdp='full_shard' (transformers' fsdp=True)"
    if isinstance(value, float) and not math.isfinite(value):
        return f"give {name} a finite value"
    if isinstance(value, float) and value.is_integer() and "int" in wanted:
        return f"write {name}={int(value)} (an int, not a float)"
    return f"give {name} {wanted}"


@rule("types.field_type", fields=tuple(f.name for f in dataclasses.fields(InitConfig)))
def field_type(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """Every config field holds its declared type (bool is not an int; floats are finite)."""
    for spec in _field_specs():
        if spec.name in s.mistyped:
            value = getattr(s.config, spec.name)
            wanted = spec.wanted
            yield (
                f"{spec.name} must be {wanted}, got {_shown(spec.name, value)}",
                _hint(spec.name, value, wanted),
                (spec.name,),
            )


INPUT_NAMES = (
    "model",
    "model_init",
    "train_dataset",
    "eval_dataset",
    "data_collator",
    "processing_class",
    "compute_metrics",
    "compute_loss_func",
    "preprocess_logits_for_metrics",
    "callbacks",
    "optimizers",
    "optimizer_cls_and_kwargs",
)
"""The inputs `TrainerInit` takes besides the config (what `validate(**inputs)` accepts)."""


@rule("types.unknown_input")
def unknown_input(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """Every input given to `validate` is one TrainerInit takes."""
    for name in s.inputs:
        if name not in INPUT_NAMES:
            close = difflib.get_close_matches(name, INPUT_NAMES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the inputs are {', '.join(INPUT_NAMES)}"
            yield f"{name!r} is not an input of TrainerInit", hint, (name,)
