"""Rules on step counts: logging/eval/save steps, the training length, accumulation.

As in transformers, a step value in (0, 1) is a ratio of the total training steps and
a value above 1 is an absolute number of steps, which must then be whole. A value is
only checked while its strategy is ``"steps"`` (otherwise it is not used).
"""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule

__all__: list[str] = []

_STEP_FIELDS = (("logging_steps", "logging_strategy"), ("eval_steps", "eval_strategy"), ("save_steps", "save_strategy"))


def _used_steps(s: GuardSubject) -> Iterator[tuple[str, str, float]]:
    """``(field, strategy field, value)`` for each step field its strategy uses."""
    config = s.config
    for name, strategy in _STEP_FIELDS:
        value = getattr(config, name)
        if getattr(config, strategy) == "steps" and value is not None:
            yield name, strategy, value


@rule(
    "steps.positive",
    fields=("logging_steps", "logging_strategy", "eval_steps", "eval_strategy", "save_steps", "save_strategy"),
)
def positive(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """logging/eval/save steps are > 0 while their strategy is "steps" (a ratio in (0, 1) or a count)."""
    for name, strategy, value in _used_steps(s):
        if value < 0 or (value == 0 and name != "eval_steps"):
            yield (
                f"{strategy}='steps' needs {name} > 0, got {value!r}",
                f"set {name} to a number of steps (e.g. 500) or a ratio of the run in (0, 1), or change {strategy}",
                (name, strategy),
            )


@rule(
    "steps.integral",
    fields=("logging_steps", "logging_strategy", "eval_steps", "eval_strategy", "save_steps", "save_strategy"),
)
def integral(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """logging/eval/save steps above 1 are whole numbers (below 1 they are ratios)."""
    for name, _, value in _used_steps(s):
        if value > 1 and value != int(value):
            yield (
                f"{name}={value!r} is above 1, so it counts steps, and must be a whole number",
                f"use {name}={round(value)} steps, or a ratio of the run in (0, 1)",
                (name,),
            )


@rule("steps.eval_needs_steps", fields=("eval_strategy", "eval_steps", "logging_steps"))
def eval_needs_steps(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """eval_strategy="steps" needs eval_steps, or logging_steps > 0 to default to."""
    c = s.config
    if c.eval_strategy == "steps" and not c.eval_steps and not (c.logging_steps and c.logging_steps > 0):
        yield (
            f"eval_strategy='steps' needs eval_steps, or logging_steps > 0 to use instead "
            f"(eval_steps={c.eval_steps!r}, logging_steps={c.logging_steps!r})",
            "set eval_steps (e.g. eval_steps=500)",
        )


@rule("steps.torch_empty_cache_steps", fields=("torch_empty_cache_steps",))
def torch_empty_cache_steps(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """torch_empty_cache_steps, when set, is an int > 0."""
    value = s.config.torch_empty_cache_steps
    if value is not None and value <= 0:
        yield (
            f"torch_empty_cache_steps must be an int > 0, got {value!r}",
            "set torch_empty_cache_steps to a number of steps, or None to never empty the cache",
        )


@rule("steps.eval_accumulation_steps", fields=("eval_accumulation_steps",))
def eval_accumulation_steps(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """eval_accumulation_steps, when set, is >= 1."""
    value = s.config.eval_accumulation_steps
    if value is not None and value < 1:
        yield (
            f"eval_accumulation_steps must be >= 1, got {value!r}",
            "set eval_accumulation_steps to a number of steps, or None to keep predictions on the device",
        )


@rule("steps.training_length", fields=("max_steps", "num_train_epochs"))
def training_length(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """There is something to train: max_steps > 0 or num_train_epochs > 0."""
    c = s.config
    if c.max_steps <= 0 and c.num_train_epochs <= 0:
        yield (
            f"max_steps={c.max_steps!r} and num_train_epochs={c.num_train_epochs!r}: the run would train no step",
            "set max_steps > 0, or num_train_epochs > 0 (max_steps=-1 means: use the epochs)",
        )
