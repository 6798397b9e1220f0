"""Rules on the data inputs: datasets that fit the strategies, and callable helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fsm.guards import GuardSubject, rule

__all__: list[str] = []


def _has_length(dataset: Any) -> bool:
    try:
        len(dataset)
    except (TypeError, AttributeError, NotImplementedError):
        return False
    return True


@rule("data.eval_without_dataset", fields=("eval_strategy", "eval_dataset"))
def eval_without_dataset(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """An eval strategy other than "no" comes with an eval_dataset."""
    strategy = s.config.eval_strategy
    if strategy != "no" and s.input("eval_dataset") is None:
        yield (
            f"eval_strategy={strategy!r} evaluates during training, but no eval_dataset was given",
            "pass eval_dataset=... to TrainerInit, or set eval_strategy='no'",
        )


@rule("data.unsized_needs_max_steps", fields=("train_dataset", "max_steps"))
def unsized_needs_max_steps(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """A train_dataset without a length (an iterable) comes with max_steps > 0."""
    dataset = s.input("train_dataset")
    if dataset is not None and s.config.max_steps <= 0 and not _has_length(dataset):
        yield (
            f"the train_dataset ({type(dataset).__name__}) has no length, so the number of training steps "
            f"cannot be inferred, and max_steps={s.config.max_steps!r}",
            "set max_steps to the number of optimizer steps to train",
        )


@rule("data.collator_not_callable", fields=("data_collator",))
def collator_not_callable(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """data_collator, when given, is callable."""
    collator = s.input("data_collator")
    if collator is not None and not callable(collator):
        hint = "pass a function of a list of samples (or an object with __call__), or None for the default"
        if callable(getattr(collator, "collate_batch", None)):
            hint = "pass collator.collate_batch, or give the collator a __call__ method"
        yield f"data_collator is a {type(collator).__name__}, which is not callable", hint


@rule("data.helpers_not_callable", fields=("compute_metrics", "compute_loss_func", "preprocess_logits_for_metrics"))
def helpers_not_callable(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """compute_metrics, compute_loss_func and preprocess_logits_for_metrics, when given, are callable."""
    for name in ("compute_metrics", "compute_loss_func", "preprocess_logits_for_metrics"):
        value = s.input(name)
        if value is not None and not callable(value):
            yield f"{name} is a {type(value).__name__}, which is not callable", f"pass a function as {name}", (name,)
