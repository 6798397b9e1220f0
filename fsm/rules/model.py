"""Rules on the model: exactly one of `model` and `model_init`, its arity, and that the
model is a torch module that can compute a loss.

A model "can compute a loss" when its forward takes a label argument (``labels``,
``*_label(s)``, ``start/end_positions``, or a name in `label_names`), takes
``return_loss=True``, or takes ``**kwargs`` (labels reach it there), or when the loss
is computed outside it (`compute_loss_func`, or label smoothing from the logits). A
transformers base model without a head (``BertModel``: it is its own
``base_model_prefix`` module) only computes hidden states, whatever its kwargs; a plain
torch module such as ``nn.Linear`` has no way to get labels. Both are refused. A model
given directly is checked before anything runs; one built by `model_init` is checked on
the transition right after it was built (``resolve_strategy``).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

from fsm.guards import GuardSubject, rule
from handlers.introspection import unwrap

__all__ = ["loss_problem"]

_LABEL_SUFFIXES = ("_label", "_labels")
_SPAN_LABELS = ("start_positions", "end_positions")


def _is_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # an nn.Module cannot exist before torch is imported
    return torch is not None and isinstance(obj, torch.nn.Module)


@functools.lru_cache(maxsize=256)
def _forward_facts(forward: Callable[..., Any]) -> tuple[tuple[str, ...], bool, bool]:
    """(parameter names, takes **kwargs, return_loss defaults to True) of a forward function."""
    params = list(inspect.signature(forward).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return_loss = next((p for p in params if p.name == "return_loss"), None)
    return (
        tuple(p.name for p in params),
        any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params),
        return_loss is not None and return_loss.default is True,
    )


def _facts(model: Any) -> tuple[tuple[str, ...], bool, bool] | None:
    forward = getattr(model, "forward", None)
    try:
        function = getattr(forward, "__func__", None)
        if function is not None and getattr(forward, "__self__", None) is model:
            return _forward_facts(function)  # cached per class's forward
        return _forward_facts.__wrapped__(forward)
    except (TypeError, ValueError):
        return None


def loss_problem(model: Any, s: GuardSubject) -> str | None:
    """Why `model` cannot compute a training loss under `s`, or None when it can."""
    if s.input("compute_loss_func") is not None or s.config.label_smoothing_factor:
        return None
    if getattr(s.config, "loss_computed_by_trainer", False):  # a transformers Trainer subclass's compute_loss
        return None
    model = unwrap(model)
    facts = _facts(model)
    if facts is None:
        return None
    names, var_keyword, returns_loss = facts
    label_names = s.config.label_names or ()
    if returns_loss or any(
        n == "labels" or n.endswith(_LABEL_SUFFIXES) or n in _SPAN_LABELS or n in label_names for n in names
    ):
        return None
    name = type(model).__name__
    prefix = getattr(type(model), "base_model_prefix", None) or getattr(model, "base_model_prefix", None)
    if isinstance(prefix, str) and prefix and hasattr(model, "config") and getattr(model, prefix, None) is None:
        return (
            f"{name} is a base model without a head: it only computes hidden states and takes no labels, "
            "so it cannot compute a loss"
        )
    if var_keyword:
        return None
    return f"{name}.forward takes no labels argument and no **kwargs, so it cannot compute a loss"


_LOSS_HINT = (
    "use a model whose forward takes labels and returns the loss (a transformers AutoModelForXxx with a head), "
    "or pass compute_loss_func=<function of (outputs, labels, num_items_in_batch)>"
)


def _meta_problem(model: Any) -> str | None:
    first = next(model.parameters(), None)  # meta-device models (init_empty_weights) have all of them there
    if first is not None and first.is_meta:
        return f"{type(model).__name__} has parameters on the meta device (shapes without data)"
    return None


_META_HINT = "materialise the weights first (load them, or model.to_empty(device=...) and initialise)"


@rule("model.exactly_one", fields=("model", "model_init"))
def exactly_one(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Exactly one of `model` and `model_init` is given."""
    model, model_init = s.input("model"), s.input("model_init")
    if model is None and model_init is None:
        yield (
            "neither `model` nor `model_init` was given",
            "pass model=<your nn.Module> or model_init=<a function returning one>",
        )
    elif model is not None and model_init is not None:
        yield (
            "both `model` and `model_init` were given",
            "pass only one: model for a built model, model_init to build it after seeding",
        )


@rule("model.init_arity", fields=("model_init",))
def init_arity(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`model_init` is callable with 0 or 1 argument (the trial)."""
    model_init = s.input("model_init")
    if model_init is None:
        return
    if not callable(model_init):
        yield f"model_init is a {type(model_init).__name__}, not a callable", "pass a function that returns the model"
        return
    from handlers.model import model_init_arity

    if model_init_arity(model_init) is None:
        yield (
            "model_init cannot be called with 0 or 1 argument",
            "make model_init take no argument, or one (the hyper-parameter trial)",
        )


@rule("model.not_a_module", fields=("model",))
def not_a_module(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`model` is a torch.nn.Module."""
    model = s.input("model")
    if model is not None and not _is_module(model):
        yield (
            f"model is a {type(model).__name__}, not a torch.nn.Module",
            "pass the torch module itself (for a path or hub id, load it first, e.g. AutoModelForXxx.from_pretrained)",
        )


@rule("model.cannot_compute_loss", fields=("model", "compute_loss_func", "label_names", "label_smoothing_factor"))
def cannot_compute_loss(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`model` can compute a loss: it takes labels (or **kwargs), or the loss is computed outside it."""
    model = s.input("model")
    if _is_module(model):
        problem = loss_problem(model, s)
        if problem:
            yield problem, _LOSS_HINT


@rule(
    "model.init_cannot_compute_loss",
    fields=("model_init", "compute_loss_func", "label_names", "label_smoothing_factor"),
    trigger="resolve_strategy",
)
def init_cannot_compute_loss(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """The model built by `model_init` can compute a loss (checked once it is built)."""
    ctx = s.context
    if ctx is not None and ctx.model_source == "model_init" and _is_module(ctx.model):
        problem = loss_problem(ctx.model, s)
        if problem:
            yield f"model_init built a model that cannot train: {problem}", _LOSS_HINT


@rule("model.meta_parameters", fields=("model",))
def meta_parameters(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`model` has real weights, not parameters on the meta device."""
    model = s.input("model")
    if _is_module(model):
        problem = _meta_problem(model)
        if problem:
            yield f"{problem}: it cannot be moved to a device or trained", _META_HINT


@rule("model.init_meta_parameters", fields=("model_init",), trigger="resolve_strategy")
def init_meta_parameters(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """The model built by `model_init` has real weights, not meta parameters."""
    ctx = s.context
    if ctx is not None and ctx.model_source == "model_init" and _is_module(ctx.model):
        problem = _meta_problem(ctx.model)
        if problem:
            yield f"model_init built a model that cannot train: {problem}", _META_HINT


@rule("model.label_smoothing_range", fields=("label_smoothing_factor",))
def label_smoothing_range(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """label_smoothing_factor is between 0 and 1."""
    value = s.config.label_smoothing_factor
    if not 0 <= value <= 1:
        yield (
            f"label_smoothing_factor must be between 0 and 1, got {value!r}",
            "use 0 for no smoothing, or a small factor such as 0.1",
        )
