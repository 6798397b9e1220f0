"""Rules on the learning-rate schedule: schedulers that need evaluations, warmup, kwargs."""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule

__all__: list[str] = []


@rule("scheduler.plateau_needs_eval", fields=("lr_scheduler_type", "eval_strategy"))
def plateau_needs_eval(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """lr_scheduler_type="reduce_lr_on_plateau" needs an eval strategy (it steps on the eval metric)."""
    if s.config.lr_scheduler_type == "reduce_lr_on_plateau" and s.config.eval_strategy == "no":
        yield (
            "lr_scheduler_type='reduce_lr_on_plateau' lowers the rate when the eval metric stalls, "
            "but eval_strategy='no'",
            "set eval_strategy='steps' or 'epoch', or choose another lr_scheduler_type",
        )


@rule("scheduler.greedy_needs_eval", fields=("lr_scheduler_type", "eval_strategy"))
def greedy_needs_eval(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """lr_scheduler_type="greedy" needs an eval strategy."""
    if s.config.lr_scheduler_type == "greedy" and s.config.eval_strategy == "no":
        yield (
            "lr_scheduler_type='greedy' adapts to the eval metric, but eval_strategy='no'",
            "set eval_strategy='steps' or 'epoch', or choose another lr_scheduler_type",
        )


@rule("scheduler.warmup_range", fields=("warmup_steps",))
def warmup_range(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """warmup_steps is >= 0: a ratio of the run below 1, else a whole number of steps."""
    value = s.config.warmup_steps
    if value < 0:
        yield f"warmup_steps must be >= 0, got {value!r}", "use 0 for no warmup, a ratio in (0, 1), or a step count"
    elif value > 1 and value != int(value):
        yield (
            f"warmup_steps={value!r} is above 1, so it counts steps, and must be a whole number",
            f"use warmup_steps={round(value)}, or a ratio of the run in (0, 1)",
        )


@rule("scheduler.min_lr_kwargs", fields=("lr_scheduler_type", "lr_scheduler_kwargs"))
def min_lr_kwargs(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """The cosine-with-min-lr schedulers get exactly one of min_lr, min_lr_rate in lr_scheduler_kwargs."""
    c = s.config
    if c.lr_scheduler_type not in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        return
    given = [k for k in ("min_lr", "min_lr_rate") if (c.lr_scheduler_kwargs or {}).get(k) is not None]
    if len(given) != 1:
        got = "both" if given else "neither"
        yield (
            f"lr_scheduler_type={c.lr_scheduler_type!r} needs exactly one of min_lr and min_lr_rate in "
            f"lr_scheduler_kwargs, got {got}",
            "set lr_scheduler_kwargs={'min_lr_rate': 0.1} (a fraction of the peak rate) or {'min_lr': 1e-6}",
        )
