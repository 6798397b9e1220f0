"""Phase 7, `store`: the datasets, collator, metrics function and optimizer references.

When no collator is given the default one is used: `torch.utils.data.default_collate`,
with ``label``/``label_ids`` keys renamed to ``labels`` as transformers'
`default_data_collator` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from events.types import ArgumentsStored
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["StorePhase", "default_data_collator"]


def default_data_collator(features: list[Any]) -> Any:
    """Stack a list of samples into a batch (dicts of tensors, tuples, tensors, numbers)."""
    from torch.utils.data import default_collate

    if features and isinstance(features[0], Mapping):
        renamed = []
        for feature in features:
            item = dict(feature)
            for key in ("label", "label_ids"):
                if key in item and "labels" not in item:
                    item["labels"] = item.pop(key)
            renamed.append(item)
        features = renamed
    return default_collate(features)


def _name(obj: Any) -> str | None:
    if obj is None:
        return None
    target = obj if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")) else type(obj)
    return getattr(target, "__qualname__", type(obj).__name__)


def _length(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


class StorePhase(Phase):
    """Keep the data and helpers a training loop needs, choosing the default collator."""

    trigger = "store"
    reads = frozenset()

    def run(self, ctx: SetupContext) -> ArgumentsStored:
        inputs = ctx.inputs
        collator = inputs.data_collator
        if collator is not None and not callable(collator):
            msg = (
                f"data_collator must be callable (a function or an object with __call__), got {type(collator).__name__}"
            )
            raise TypeError(msg)
        ctx.data_collator = collator if collator is not None else default_data_collator
        ctx.train_dataset = inputs.train_dataset
        ctx.eval_dataset = inputs.eval_dataset
        ctx.processing_class = inputs.processing_class
        ctx.compute_metrics = inputs.compute_metrics
        ctx.compute_loss_func = inputs.compute_loss_func
        ctx.preprocess_logits_for_metrics = inputs.preprocess_logits_for_metrics
        ctx.optimizer, ctx.lr_scheduler = inputs.optimizers
        ctx.optimizer_cls_and_kwargs = inputs.optimizer_cls_and_kwargs
        return ArgumentsStored(
            train_dataset=_name(ctx.train_dataset),
            train_samples=_length(ctx.train_dataset) if ctx.train_dataset is not None else None,
            eval_dataset=_name(ctx.eval_dataset),
            eval_samples=_length(ctx.eval_dataset) if ctx.eval_dataset is not None else None,
            data_collator=_name(ctx.data_collator) or "",
            default_collator=collator is None,
            compute_metrics=_name(ctx.compute_metrics),
            optimizer=_name(ctx.optimizer),
            lr_scheduler=_name(ctx.lr_scheduler),
        )
