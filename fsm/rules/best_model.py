"""Rules on keeping the best model: load_best_model_at_end, save_strategy="best", the metric."""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule

__all__: list[str] = []

_SCALE = 1_000_000  # compare ratios as integers, free of float error


def _eval_steps(s: GuardSubject) -> float:
    """eval_steps as it will be used (logging_steps when unset, as in transformers)."""
    return s.config.eval_steps or s.config.logging_steps


@rule("best.strategies_match", fields=("load_best_model_at_end", "eval_strategy", "save_strategy"))
def strategies_match(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """load_best_model_at_end needs save_strategy equal to eval_strategy (or "best")."""
    c = s.config
    if c.load_best_model_at_end and c.save_strategy != "best" and c.eval_strategy != c.save_strategy:
        yield (
            f"load_best_model_at_end=True needs the save and eval strategies to match, "
            f"got eval_strategy={c.eval_strategy!r} and save_strategy={c.save_strategy!r}",
            f"set save_strategy={c.eval_strategy!r} (or eval_strategy={c.save_strategy!r}), or save_strategy='best'",
        )


@rule(
    "best.save_multiple_of_eval",
    fields=("load_best_model_at_end", "eval_strategy", "save_strategy", "save_steps", "eval_steps", "logging_steps"),
)
def save_multiple_of_eval(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """With load_best_model_at_end and "steps", save_steps is a multiple of eval_steps (both counts or both ratios)."""
    c = s.config
    if not (c.load_best_model_at_end and c.save_strategy == "steps" and c.eval_strategy == "steps"):
        return
    save, evaluate = c.save_steps, _eval_steps(s)
    if not save or not evaluate or save <= 0 or evaluate <= 0:
        return  # steps.positive reports these
    if (save < 1) != (evaluate < 1):
        yield (
            f"save_steps={save!r} and eval_steps={evaluate!r} mix a ratio and a number of steps, so a save "
            "cannot be known to fall on an evaluation",
            "give both as numbers of steps, or both as ratios of the run",
        )
    elif round(save * _SCALE) % round(evaluate * _SCALE) != 0:
        yield (
            f"load_best_model_at_end=True needs save_steps to be a multiple of eval_steps, "
            f"got save_steps={save!r} and eval_steps={evaluate!r}",
            f"set save_steps to a multiple of {evaluate!r} (e.g. {evaluate * max(1, round(save / evaluate))!r})",
        )


@rule(
    "best.needs_metric",
    fields=("save_strategy", "metric_for_best_model", "load_best_model_at_end", "lr_scheduler_type"),
)
def needs_metric(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """save_strategy="best" needs metric_for_best_model (unless a setting defaults it to the loss)."""
    c = s.config
    defaults_to_loss = c.load_best_model_at_end or c.lr_scheduler_type in ("reduce_lr_on_plateau", "greedy")
    if c.save_strategy == "best" and c.metric_for_best_model is None and not defaults_to_loss:
        yield (
            "save_strategy='best' needs metric_for_best_model, the metric that decides which checkpoint is best",
            "set metric_for_best_model (e.g. 'loss', or 'accuracy' with greater_is_better=True)",
        )


@rule("best.needs_evaluation", fields=("load_best_model_at_end", "save_strategy", "eval_strategy"))
def needs_evaluation(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Keeping the best model (load_best_model_at_end, save_strategy="best") needs evaluations."""
    c = s.config
    if (c.load_best_model_at_end or c.save_strategy == "best") and c.eval_strategy == "no":
        what = "load_best_model_at_end=True" if c.load_best_model_at_end else "save_strategy='best'"
        yield (
            f"{what} needs evaluations to tell the best model, but eval_strategy='no'",
            "set eval_strategy='steps' or 'epoch' (and pass an eval_dataset)",
        )
