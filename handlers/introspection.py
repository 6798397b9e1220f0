"""Phase 6, `introspect`: what the model's forward signature tells the training loop.

Label names come from the forward's parameters (``labels``, ``*_label``,
``*_positions`` as in transformers) unless `config.label_names` is given; the model
accepts loss kwargs when its forward takes ``**kwargs`` (or it says so with an
`accepts_loss_kwargs` attribute); a label smoother is built when
`label_smoothing_factor` > 0.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from events.types import ModelIntrospected
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["IntrospectPhase", "LabelSmoother", "find_labels"]


_LABEL_SUFFIXES = ("_label", "_labels")
_SPAN_LABELS = ("start_positions", "end_positions")


def unwrap(model: Any) -> Any:
    """The module inside DDP/FSDP/compile wrappers (cheaper than accelerate's unwrap)."""
    seen = set()
    while id(model) not in seen:
        seen.add(id(model))
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            break
        model = inner
    return model


def _forward_parameters(model: Any) -> dict[str, inspect.Parameter]:
    forward = getattr(model, "forward", None)
    if forward is None:
        return {}
    return dict(inspect.signature(forward).parameters)


def find_labels(model: Any) -> list[str]:
    """Names of the forward's label arguments, in signature order."""
    params = _forward_parameters(model)
    return [name for name in params if name == "labels" or name.endswith(_LABEL_SUFFIXES) or name in _SPAN_LABELS]


def accepts_loss_kwargs(model: Any) -> bool:
    """Whether the forward passes extra keyword arguments (``num_items_in_batch``) to its loss."""
    if hasattr(model, "accepts_loss_kwargs"):
        return bool(model.accepts_loss_kwargs)
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in _forward_parameters(model).values())


def can_return_loss(model: Any) -> bool:
    """Whether the forward has a `return_loss` argument defaulting to True."""
    param = _forward_parameters(model).get("return_loss")
    return param is not None and param.default is True


@dataclass(frozen=True)
class LabelSmoother:
    """Cross-entropy with label smoothing, ignoring positions labelled `ignore_index`.

    Call it with the model's logits and the labels; returns a scalar loss.
    """

    epsilon: float = 0.1
    ignore_index: int = -100

    def __call__(self, logits: Any, labels: Any, shift_labels: bool = False) -> Any:
        import torch.nn.functional as F

        if shift_labels:
            logits = logits[..., :-1, :].contiguous()
            labels = labels[..., 1:].contiguous()
        return F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            labels.reshape(-1),
            ignore_index=self.ignore_index,
            label_smoothing=self.epsilon,
        )


class IntrospectPhase(Phase):
    """Read label names, loss-kwargs support and label smoothing from the model."""

    trigger = "introspect"
    reads = frozenset({"label_names", "label_smoothing_factor"})

    def run(self, ctx: SetupContext) -> ModelIntrospected:
        config = ctx.config
        model = unwrap(ctx.model)
        ctx.label_names = list(config.label_names) if config.label_names is not None else find_labels(model)
        ctx.model_accepts_loss_kwargs = accepts_loss_kwargs(model)
        ctx.can_return_loss = can_return_loss(model)
        problem_type = getattr(getattr(model, "config", None), "problem_type", None)
        smoothing = config.label_smoothing_factor
        if smoothing and problem_type == "multi_label_classification":
            smoothing = 0.0  # not defined for multi-label targets, as in transformers
        ctx.label_smoother = LabelSmoother(epsilon=smoothing) if smoothing else None
        return ModelIntrospected(
            label_names=list(ctx.label_names),
            model_accepts_loss_kwargs=ctx.model_accepts_loss_kwargs,
            can_return_loss=ctx.can_return_loss,
            label_smoothing_factor=smoothing,
        )
