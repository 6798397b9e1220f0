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

__all__ = ["ResolveModelPhase", "call_model_init", "describe_model"]


def call_model_init(model_init: Any, trial: Any = None) -> Any:
    """Call `model_init` with 0 or 1 argument, as transformers does, and check the result."""
    n_params = len(inspect.signature(model_init).parameters)
    if n_params == 0:
        model = model_init()
    elif n_params == 1:
        model = model_init(trial)
    else:
        msg = f"model_init must take 0 or 1 argument, but {model_init!r} takes {n_params}"
        raise TypeError(msg)
    if model is None:
        msg = f"model_init {getattr(model_init, '__qualname__', model_init)!r} returned None; it must return a model"
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
