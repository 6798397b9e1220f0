"""Rules on named choices: every strategy, scheduler, optimizer, hub strategy and log level is a
known one, one rule per field, registered from one table.

The valid values are transformers' (5.x): `IntervalStrategy`, `SaveStrategy`,
`HubStrategy`, `SchedulerType` and `OptimizerNames`. Each message lists them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from fsm.config import LOG_LEVELS
from fsm.guards import GuardSubject, rule

__all__ = ["HUB_STRATEGIES", "INTERVAL_STRATEGIES", "OPTIMIZERS", "SAVE_STRATEGIES", "SCHEDULERS", "unknown_choice"]

INTERVAL_STRATEGIES = ("no", "steps", "epoch")
SAVE_STRATEGIES = ("no", "steps", "epoch", "best")
HUB_STRATEGIES = ("end", "every_save", "checkpoint", "all_checkpoints")
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
)
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_torch_xla",
    "adamw_torch_npu_fused",
    "adafactor",
    "adamw_anyprecision",
    "adamw_torch_4bit",
    "adamw_torch_8bit",
    "ademamix",
    "sgd",
    "adagrad",
    "adamw_bnb_8bit",
    "adamw_8bit",
    "ademamix_8bit",
    "lion_8bit",
    "lion_32bit",
    "paged_adamw_32bit",
    "paged_adamw_8bit",
    "paged_ademamix_32bit",
    "paged_ademamix_8bit",
    "paged_lion_32bit",
    "paged_lion_8bit",
    "rmsprop",
    "rmsprop_bnb",
    "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit",
    "galore_adamw",
    "galore_adamw_8bit",
    "galore_adafactor",
    "galore_adamw_layerwise",
    "galore_adamw_8bit_layerwise",
    "galore_adafactor_layerwise",
    "lomo",
    "adalomo",
    "grokadamw",
    "schedule_free_radam",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "apollo_adamw",
    "apollo_adamw_layerwise",
    "stable_adamw",
)


def unknown_choice(name: str, value: str, choices: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """One violation when `value` is not in `choices`: the message lists them, the hint the closest."""
    if value in choices:
        return
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"did you mean {name}={close[0]!r}?" if close else f"use one of the values listed for {name}"
    yield f"{name}={value!r} is not one of {', '.join(repr(c) for c in choices)}", hint


# rule id, field, valid values, what the rule checks
_CHOICES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("enums.eval_strategy", "eval_strategy", INTERVAL_STRATEGIES, "`eval_strategy` is one of no, steps, epoch."),
    (
        "enums.logging_strategy",
        "logging_strategy",
        INTERVAL_STRATEGIES,
        "`logging_strategy` is one of no, steps, epoch.",
    ),
    ("enums.save_strategy", "save_strategy", SAVE_STRATEGIES, "`save_strategy` is one of no, steps, epoch, best."),
    (
        "enums.hub_strategy",
        "hub_strategy",
        HUB_STRATEGIES,
        "`hub_strategy` is one of end, every_save, checkpoint, all_checkpoints.",
    ),
    (
        "enums.lr_scheduler_type",
        "lr_scheduler_type",
        SCHEDULERS,
        "`lr_scheduler_type` is a scheduler transformers knows (linear, cosine, ...).",
    ),
    ("enums.optim", "optim", OPTIMIZERS, "`optim` is an optimizer name transformers knows (adamw_torch, sgd, ...)."),
    (
        "logging.log_level",
        "log_level",
        LOG_LEVELS,
        "`log_level` is one of passive, debug, info, warning, error, critical.",
    ),
    (
        "logging.log_level_replica",
        "log_level_replica",
        LOG_LEVELS,
        "`log_level_replica` (the other processes' level) is a known level name.",
    ),
)


def _choice_check(field: str, choices: tuple[str, ...]) -> Callable[[GuardSubject], Iterator[tuple[str, str]]]:
    def check(s: GuardSubject) -> Iterator[tuple[str, str]]:
        yield from unknown_choice(field, getattr(s.config, field), choices)

    check.__name__ = check.__qualname__ = field
    return check


for _rule_id, _field, _choices, _description in _CHOICES:
    rule(_rule_id, fields=(_field,), description=_description)(_choice_check(_field, _choices))
