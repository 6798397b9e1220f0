"""Rules on named choices: every strategy, scheduler, optimizer and hub strategy is a known one.

The valid values are transformers' (5.x): `IntervalStrategy`, `SaveStrategy`,
`HubStrategy`, `SchedulerType` and `OptimizerNames`. Each message lists them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

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


@rule("enums.eval_strategy", fields=("eval_strategy",))
def eval_strategy(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`eval_strategy` is one of no, steps, epoch."""
    yield from unknown_choice("eval_strategy", s.config.eval_strategy, INTERVAL_STRATEGIES)


@rule("enums.logging_strategy", fields=("logging_strategy",))
def logging_strategy(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`logging_strategy` is one of no, steps, epoch."""
    yield from unknown_choice("logging_strategy", s.config.logging_strategy, INTERVAL_STRATEGIES)


@rule("enums.save_strategy", fields=("save_strategy",))
def save_strategy(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`save_strategy` is one of no, steps, epoch, best."""
    yield from unknown_choice("save_strategy", s.config.save_strategy, SAVE_STRATEGIES)


@rule("enums.hub_strategy", fields=("hub_strategy",))
def hub_strategy(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`hub_strategy` is one of end, every_save, checkpoint, all_checkpoints."""
    yield from unknown_choice("hub_strategy", s.config.hub_strategy, HUB_STRATEGIES)


@rule("enums.lr_scheduler_type", fields=("lr_scheduler_type",))
def lr_scheduler_type(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`lr_scheduler_type` is a scheduler transformers knows (linear, cosine, ...)."""
    yield from unknown_choice("lr_scheduler_type", s.config.lr_scheduler_type, SCHEDULERS)


@rule("enums.optim", fields=("optim",))
def optim(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`optim` is an optimizer name transformers knows (adamw_torch, sgd, ...)."""
    yield from unknown_choice("optim", s.config.optim, OPTIMIZERS)
