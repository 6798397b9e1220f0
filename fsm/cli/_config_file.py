"""Config files for `trainer-fsm init` and `validate`: YAML or JSON.

A config file is one mapping. Its keys are `InitConfig` fields (the TrainingArguments
names) plus the inputs of `TrainerInit`, each given as an import path to a factory:

    output_dir: trainer_output
    seed: 42
    learning_rate: 0.01
    model_init:
      factory: fsm.demo:TinyMLP        # package.module:name
      kwargs: {in_features: 8, hidden: 32}
    train_dataset: fsm.demo:SyntheticRegression   # a bare path: no keyword arguments
    callbacks:
      - factory: mypackage.callbacks:EarlyStop
        kwargs: {patience: 3}

What each input key means:

* ``model``, ``train_dataset``, ``eval_dataset``, each of ``callbacks``: the factory is
  called with its kwargs when the inputs are built, and its result is the input.
* ``model_init``: the factory is the model_init; the machine calls it (with its kwargs)
  in the `resolve_model` phase, after seeding, so the weights follow ``seed``.
* ``data_collator``: a class is instantiated with its kwargs (the instance collates); a
  function is the collator itself (kwargs are bound to it).

Every problem found in a file is reported at once, each naming its key, as a
`ConfigFileError`. Loading writes nothing; the directory holding the file is appended to
``sys.path`` so that factories in modules next to it can be imported.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import re
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsm.config import InitConfig
from fsm.exceptions import ConfigError, TrainerFsmError

__all__ = [
    "DEFAULT_CONFIG",
    "INPUT_KEYS",
    "ConfigFile",
    "ConfigFileError",
    "FactoryError",
    "FactorySpec",
    "load_config",
    "parse_config",
    "read_config_file",
]

INPUT_KEYS = ("model", "model_init", "train_dataset", "eval_dataset", "data_collator", "callbacks")
"""The keys of a config file that name `TrainerInit` inputs by import path."""

DEFAULT_CONFIG: dict[str, Any] = {
    "output_dir": "trainer_output",
    "seed": 42,
    "per_device_train_batch_size": 32,
    "learning_rate": 0.01,
    "model_init": {"factory": "fsm.demo:TinyMLP", "kwargs": {"in_features": 8, "hidden": 32}},
    "train_dataset": {"factory": "fsm.demo:SyntheticRegression", "kwargs": {"n": 256, "in_features": 8}},
}
"""The embedded default of `trainer-fsm init`: a tiny MLP built after seeding, 256
synthetic regression samples, output in ./trainer_output. Nothing is downloaded."""

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ConfigFileError(ConfigError):
    """Raised when a config file cannot be read or is not a valid set-up description.

    `problems` lists every problem found, each starting with the key it is about.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        n = len(problems)
        head = f"{source}: {n} problem{'s' if n != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in problems))
        self.source = source
        self.problems = list(problems)


class FactoryError(TrainerFsmError):
    """Raised when a factory named in a config file raises while the inputs are built."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class FactorySpec:
    """One import-path entry of a config file: ``factory`` called with ``kwargs``."""

    key: str
    factory: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``module:name(k=v, ...)``, as shown in messages."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.factory}({args})"

    def resolve(self) -> Callable[..., Any]:
        """Import the factory and check that `kwargs` fit its signature.

        Raises:
            ConfigFileError: the module or name is missing, the object is not callable,
                or the keyword arguments do not match its parameters.
        """
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            msg = f"{self.key}: cannot import module {module_name!r} ({exc}); check the spelling and the install"
            raise ConfigFileError(self.factory, [msg]) from None
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                msg = f"{self.key}: module {module_name!r} has no attribute {attr!r}"
                raise ConfigFileError(self.factory, [msg]) from None
        if not callable(obj):
            msg = f"{self.key}: {self.factory} is a {type(obj).__name__}, not a callable factory"
            raise ConfigFileError(self.factory, [msg])
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError):
            return obj
        try:
            signature.bind_partial(**self.kwargs)
        except TypeError as exc:
            accepted = ", ".join(signature.parameters) or "none"
            msg = f"{self.key}.kwargs: {exc} for {self.factory} (its parameters: {accepted})"
            raise ConfigFileError(self.factory, [msg]) from None
        return obj


@dataclass
class ConfigFile:
    """A parsed config file: the `InitConfig`, the factory specs and their factories."""

    source: str
    config: InitConfig
    specs: dict[str, FactorySpec | list[FactorySpec]]
    factories: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """The imported factory of each spec, by its key (``model``, ``callbacks[0]``, ...)."""

    def build_inputs(self) -> dict[str, Any]:
        """The `TrainerInit` keyword arguments: call every factory that builds an input
        now (all but `model_init`, which the machine calls after seeding).

        Raises:
            FactoryError: a factory raised when it was called.
        """
        inputs: dict[str, Any] = {}
        for key, spec in self.specs.items():
            if isinstance(spec, list):
                inputs[key] = [_call(one, self.factories[one.key]) for one in spec]
            elif key == "model_init":
                inputs[key] = _model_init(spec, self.factories[key])
            elif key == "data_collator":
                inputs[key] = _collator(spec, self.factories[key])
            else:
                inputs[key] = _call(spec, self.factories[key])
        return inputs

    def describe(self) -> str:
        """One line saying what the set-up is made of, e.g. for the command's header."""
        parts = []
        for key in INPUT_KEYS:
            spec = self.specs.get(key)
            if isinstance(spec, list):
                parts.append(f"{key}=[{', '.join(s.factory for s in spec)}]")
            elif spec is not None:
                parts.append(f"{key}={spec.factory}")
        return ", ".join(parts) or "no inputs"


def _call(spec: FactorySpec, factory: Callable[..., Any]) -> Any:
    try:
        return factory(**spec.kwargs)
    except Exception as exc:
        msg = f"{spec.key}: {spec.describe()} raised {type(exc).__name__}: {exc}"
        raise FactoryError(spec.key, msg) from exc


def _model_init(spec: FactorySpec, factory: Callable[..., Any]) -> Callable[..., Any]:
    # A plain function without kwargs is passed as it is, so the guards see its real
    # arity (0, or 1 for the trial). Otherwise a function of no argument builds it.
    if not spec.kwargs and not inspect.isclass(factory):
        return factory
    kwargs = dict(spec.kwargs)

    def model_init() -> Any:
        return factory(**kwargs)

    model_init.__qualname__ = model_init.__name__ = spec.factory
    return model_init


def _collator(spec: FactorySpec, factory: Callable[..., Any]) -> Any:
    if inspect.isclass(factory):
        return _call(spec, factory)
    if not spec.kwargs:
        return factory
    return functools.update_wrapper(functools.partial(factory, **spec.kwargs), factory)


# ---------------------------------------------------------------- reading and parsing


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) file holding one mapping.

    Raises:
        ConfigFileError: the file is missing, unreadable, malformed, or not a mapping.
    """
    import yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(source, ["file not found; give the path of a .yaml or .json config"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(source, [f"cannot read the file: {exc}"]) from None
    try:
        data = json.loads(text) if Path(path).suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        msg = f"line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"
        raise ConfigFileError(source, [msg]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError(source, [f"{where}not valid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        msg = f"the file holds a {type(data).__name__}; it must hold one mapping of keys to values"
        raise ConfigFileError(source, [msg])
    return data


def load_config(path: str | os.PathLike[str] | None) -> ConfigFile:
    """Read and parse `path`, or the embedded default when `path` is None."""
    if path is None:
        return parse_config(DEFAULT_CONFIG, source="the embedded default")
    data = read_config_file(path)
    return parse_config(data, source=str(path), directory=Path(path).resolve().parent)


def parse_config(data: Mapping[str, Any], *, source: str = "config", directory: Path | None = None) -> ConfigFile:
    """Split `data` into `InitConfig` fields and factory specs, and import the factories.

    `directory` (the file's folder) is appended to ``sys.path`` first, so factories in
    modules next to the file can be imported.

    Raises:
        ConfigFileError: every problem at once: unknown keys (with the closest known
            name), malformed specs, factories that cannot be imported or whose kwargs
            do not fit their parameters.
    """
    import difflib

    fields = InitConfig.field_names()
    known = (*fields, *INPUT_KEYS)
    problems: list[str] = []
    values: dict[str, Any] = {}
    specs: dict[str, FactorySpec | list[FactorySpec]] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(f"{key!r}: keys must be strings")
        elif key in INPUT_KEYS:
            if value is None:
                continue
            if key == "callbacks":
                if not isinstance(value, list):
                    problems.append("callbacks: must be a list of factories (import paths or {factory, kwargs})")
                    continue
                items = [_parse_spec(f"callbacks[{i}]", item, problems) for i, item in enumerate(value)]
                specs[key] = [s for s in items if s is not None]
            else:
                spec = _parse_spec(key, value, problems)
                if spec is not None:
                    specs[key] = spec
        elif key in fields:
            values[key] = _coerce(key, value)
        else:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see InitConfig.field_names() and the input keys"
            problems.append(f"{key}: not a config field or input key; {hint}")
    if directory is not None and str(directory) not in sys.path:
        sys.path.append(str(directory))
    factories: dict[str, Callable[..., Any]] = {}
    for spec in specs.values():
        for one in spec if isinstance(spec, list) else [spec]:
            try:
                factories[one.key] = one.resolve()
            except ConfigFileError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigFileError(source, problems)
    return ConfigFile(source=source, config=InitConfig.from_dict(values), specs=specs, factories=factories)


def _parse_spec(key: str, value: Any, problems: list[str]) -> FactorySpec | None:
    kwargs: Any = {}
    if isinstance(value, str):
        factory = value
    elif isinstance(value, Mapping):
        extra = sorted(set(value) - {"factory", "kwargs"})
        if extra:
            problems.append(f"{key}: unknown key(s) {', '.join(map(str, extra))}; use `factory` and `kwargs`")
            return None
        factory = value.get("factory")
        kwargs = value.get("kwargs") or {}
        if not isinstance(factory, str):
            problems.append(f"{key}.factory: missing; give an import path such as 'package.module:make_{key}'")
            return None
        if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            problems.append(f"{key}.kwargs: must be a mapping of parameter names to values")
            return None
    else:
        problems.append(f"{key}: give an import path 'package.module:name' or a mapping {{factory, kwargs}}")
        return None
    if not _IMPORT_PATH.match(factory):
        problems.append(f"{key}: {factory!r} is not an import path; write it as 'package.module:name'")
        return None
    return FactorySpec(key, factory, dict(kwargs))


def _coerce(key: str, value: Any) -> Any:
    # PyYAML reads `1e-3` (no dot) as a string; take it as the float it was meant to be
    # when the field holds floats. Anything else is left to the guards.
    if isinstance(value, str) and _FLOAT.match(value) and float in _field_types(key):
        return float(value)
    return value


@functools.cache
def _field_types(key: str) -> tuple[type, ...]:
    hint = typing.get_type_hints(InitConfig).get(key)
    args = typing.get_args(hint) or (hint,)
    return tuple(a for a in args if isinstance(a, type))
