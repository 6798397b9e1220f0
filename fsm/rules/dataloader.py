"""Rules on data loading: workers, prefetching, batch sizes, gradient accumulation.

These are the values torch's `DataLoader` and accelerate would refuse later, in the
training loop; here they are refused before the set-up starts.
"""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule

__all__: list[str] = []


@rule("dataloader.workers_non_negative", fields=("dataloader_num_workers",))
def workers_non_negative(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """dataloader_num_workers is >= 0."""
    value = s.config.dataloader_num_workers
    if value < 0:
        yield (
            f"dataloader_num_workers must be >= 0, got {value!r}",
            "use 0 to load in the main process, or a number of worker processes",
        )


@rule("dataloader.prefetch_needs_workers", fields=("dataloader_prefetch_factor", "dataloader_num_workers"))
def prefetch_needs_workers(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """dataloader_prefetch_factor is only set with dataloader_num_workers > 0."""
    c = s.config
    if c.dataloader_prefetch_factor is not None and c.dataloader_num_workers == 0:
        yield (
            f"dataloader_prefetch_factor={c.dataloader_prefetch_factor!r} needs worker processes, "
            "but dataloader_num_workers=0",
            "set dataloader_num_workers > 0, or leave dataloader_prefetch_factor=None",
        )


@rule("dataloader.prefetch_factor_positive", fields=("dataloader_prefetch_factor",))
def prefetch_factor_positive(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """dataloader_prefetch_factor, when set, is >= 1."""
    value = s.config.dataloader_prefetch_factor
    if value is not None and value < 1:
        yield (
            f"dataloader_prefetch_factor must be >= 1 (batches loaded ahead per worker), got {value!r}",
            "use e.g. dataloader_prefetch_factor=2, or None",
        )


@rule("dataloader.persistent_workers_need_workers", fields=("dataloader_persistent_workers", "dataloader_num_workers"))
def persistent_workers_need_workers(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """dataloader_persistent_workers is only set with dataloader_num_workers > 0."""
    c = s.config
    if c.dataloader_persistent_workers and c.dataloader_num_workers == 0:
        yield (
            "dataloader_persistent_workers=True keeps worker processes alive, but dataloader_num_workers=0",
            "set dataloader_num_workers > 0, or dataloader_persistent_workers=False",
        )


@rule("dataloader.batch_size_positive", fields=("per_device_train_batch_size", "per_device_eval_batch_size"))
def batch_size_positive(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """per_device_train_batch_size and per_device_eval_batch_size are >= 1."""
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
        value = getattr(s.config, name)
        if value < 1:
            yield f"{name} must be >= 1, got {value!r}", f"set {name} to a number of samples (e.g. 8)", (name,)


@rule("dataloader.gradient_accumulation_positive", fields=("gradient_accumulation_steps",))
def gradient_accumulation_positive(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """gradient_accumulation_steps is >= 1."""
    value = s.config.gradient_accumulation_steps
    if value < 1:
        yield (
            f"gradient_accumulation_steps must be >= 1, got {value!r}",
            "use 1 to step the optimizer on every batch, or the number of batches to accumulate",
        )
