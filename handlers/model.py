"""Phase 3, `resolve_model`: take the given model, or build one with `model_init`.

Exactly one of `model` and `model_init` must be given. `model_init` takes no argument
or one (a hyper-parameter trial, ``None`` here) and must return a model. The phase
counts parameters and reads the dtype; it changes nothing outside the context.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from events.types import ModelResolved
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["ResolveModelPhase", "call_model_init", "describe_model", "model_init_arity"]


def model_init_arity(model_init: Any) -> int | None:
    """How many arguments `model_init` is called with: 0, 1 (the trial), or None if neither fits."""
    try:
        signature = inspect.signature(model_init)
    except (TypeError, ValueError):
        return 0
    for arity, args in ((0, ()), (1, (None,))):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return arity
    return None


def call_model_init(model_init: Any, trial: Any = None) -> Any:
    """Call `model_init` with no argument, or with the trial when it needs one, and check the result."""
    arity = model_init_arity(model_init)
    if arity is None:
        msg = f"model_init must be callable with 0 or 1 argument, but {model_init!r} needs more"
        raise TypeError(msg)
    model = model_init() if arity == 0 else model_init(trial)
    if model is None:
        name = getattr(model_init, "__qualname__", repr(model_init))
        msg = f"model_init {name!r} returned None; it must return a model"
        raise RuntimeError(msg)
    return model


def describe_model(model: Any) -> dict[str, Any]:
    """Class, parameter counts and dtype of a torch module."""
    total = trainable = 0
    dtype = None
    for param in model.parameters():
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
        if dtype is None:
            dtype = param.dtype
    return {
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "num_parameters": total,
        "trainable_parameters": trainable,
        "dtype": str(dtype).removeprefix("torch.") if dtype is not None else "none",
    }


class ResolveModelPhase(Phase):
    """Resolve the model to train: the given one, or a new one from `model_init`."""

    trigger = "resolve_model"
    reads = frozenset()

    def run(self, ctx: SetupContext) -> ModelResolved:
        import torch

        inputs = ctx.inputs
        if (inputs.model is None) == (inputs.model_init is None):
            msg = (
                "pass exactly one of `model` and `model_init` to TrainerInit "
                f"(got {'both' if inputs.model is not None else 'neither'})"
            )
            raise ValueError(msg)
        if inputs.model is not None:
            model, source = inputs.model, "model"
        else:
            model, source = call_model_init(inputs.model_init), "model_init"
        if not isinstance(model, torch.nn.Module):
            msg = f"the {source} gave a {type(model).__name__}, not a torch.nn.Module"
            raise TypeError(msg)
        ctx.model = model
        ctx.model_source = source
        return ModelResolved(source=source, **describe_model(model))
