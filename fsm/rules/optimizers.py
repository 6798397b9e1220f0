"""Rules on the optimizer inputs (`optimizers`, `optimizer_cls_and_kwargs`) and the
optimizer hyper-parameters of the config.

An optimizer given to `TrainerInit` must be a torch optimizer over the model's own
parameters, with its scheduler bound to it; it cannot come with `model_init` (the
model it optimizes would be replaced), with `optimizer_cls_and_kwargs`, or with FSDP
(which replaces the parameters when it wraps the model, after the optimizer was built).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

from fsm.guards import GuardSubject, rule

__all__: list[str] = []


def _pair(s: GuardSubject) -> tuple[Any, Any]:
    optimizers = s.input("optimizers")
    if isinstance(optimizers, tuple) and len(optimizers) == 2:
        return optimizers
    return None, None


def _is_optimizer(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.optim.Optimizer)


def _is_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


@rule("optimizer.pair", fields=("optimizers",))
def pair(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`optimizers` is a pair (optimizer, lr_scheduler), and the optimizer a torch optimizer."""
    optimizers = s.input("optimizers")
    if optimizers is None:
        return
    if not (isinstance(optimizers, tuple) and len(optimizers) == 2):
        yield (
            f"optimizers must be a tuple (optimizer, lr_scheduler), got {type(optimizers).__name__}",
            "pass optimizers=(optimizer, scheduler), (optimizer, None), or leave the default (None, None)",
        )
        return
    optimizer = optimizers[0]
    if optimizer is not None and not _is_optimizer(optimizer):
        yield (
            f"optimizers[0] is a {type(optimizer).__name__}, not a torch.optim.Optimizer",
            "pass an optimizer instance (torch.optim.AdamW(model.parameters())), not its class or name; "
            "to choose by name use the `optim` field",
        )


@rule("optimizer.with_model_init", fields=("optimizers", "model_init"))
def with_model_init(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`optimizers` is not given together with `model_init`."""
    optimizer, scheduler = _pair(s)
    if s.input("model_init") is not None and (optimizer is not None or scheduler is not None):
        yield (
            "optimizers were given together with model_init: they would optimize a model that model_init replaces",
            "drop optimizers (the optimizer is then built for the new model), or pass model= instead of model_init",
        )


@rule("optimizer.with_cls_and_kwargs", fields=("optimizers", "optimizer_cls_and_kwargs"))
def with_cls_and_kwargs(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """An optimizer instance and `optimizer_cls_and_kwargs` are not both given."""
    optimizer, _ = _pair(s)
    if optimizer is not None and s.input("optimizer_cls_and_kwargs") is not None:
        yield (
            "both an optimizer (optimizers[0]) and optimizer_cls_and_kwargs were given",
            "pass one: the optimizer instance, or the class and kwargs to build it with",
        )


@rule("optimizer.before_fsdp", fields=("optimizers", "fsdp"))
def before_fsdp(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """No optimizer built before FSDP wraps the model (FSDP replaces the parameters)."""
    optimizer, scheduler = _pair(s)
    if s.config.fsdp and (optimizer is not None or scheduler is not None):
        yield (
            "optimizers were given with fsdp: the optimizer was built over parameters that FSDP replaces "
            "when it wraps the model",
            "drop optimizers and pass optimizer_cls_and_kwargs=(torch.optim.AdamW, {...}) instead",
        )


@rule("optimizer.params_not_of_model", fields=("optimizers", "model"))
def params_not_of_model(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """The given optimizer optimizes parameters of the given model."""
    optimizer, _ = _pair(s)
    model = s.input("model")
    if not (_is_optimizer(optimizer) and _is_module(model)):
        return
    own = {id(p) for p in model.parameters()}
    foreign = sum(1 for g in optimizer.param_groups for p in g["params"] if id(p) not in own)
    if foreign:
        yield (
            f"the optimizer holds {foreign} parameter tensor(s) that are not the model's",
            "build the optimizer from this model: torch.optim.AdamW(model.parameters())",
        )


@rule("optimizer.scheduler_without_optimizer", fields=("optimizers",))
def scheduler_without_optimizer(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """A scheduler is given with the optimizer it steps."""
    optimizer, scheduler = _pair(s)
    if scheduler is not None and optimizer is None:
        yield (
            "optimizers=(None, scheduler): the scheduler would drive an optimizer that is not used",
            "pass the optimizer with its scheduler: optimizers=(optimizer, scheduler)",
        )


@rule("optimizer.scheduler_of_other_optimizer", fields=("optimizers",))
def scheduler_of_other_optimizer(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """The given scheduler is bound to the given optimizer."""
    optimizer, scheduler = _pair(s)
    bound = getattr(scheduler, "optimizer", None)
    if optimizer is not None and bound is not None and bound is not optimizer:
        yield (
            "the lr_scheduler (optimizers[1]) was built for another optimizer than optimizers[0]",
            "build the scheduler from the optimizer you pass: LambdaLR(optimizer, ...)",
        )


@rule("optimizer.cls_and_kwargs_shape", fields=("optimizer_cls_and_kwargs",))
def cls_and_kwargs_shape(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """optimizer_cls_and_kwargs is a pair (optimizer class, dict of keyword arguments)."""
    value = s.input("optimizer_cls_and_kwargs")
    if value is None:
        return
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and isinstance(value[0], type)
        and isinstance(value[1], Mapping)
    )
    if not ok:
        yield (
            f"optimizer_cls_and_kwargs must be (optimizer class, dict of kwargs), got {value!r:.80}",
            "pass e.g. optimizer_cls_and_kwargs=(torch.optim.AdamW, {'lr': 1e-4})",
        )


@rule(
    "optimizer.hyperparameters",
    fields=("learning_rate", "adam_beta1", "adam_beta2", "adam_epsilon", "weight_decay"),
)
def hyperparameters(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """learning_rate, adam_epsilon, weight_decay >= 0 and adam betas in [0, 1), as torch's AdamW requires."""
    c = s.config
    for name in ("learning_rate", "adam_epsilon", "weight_decay"):
        value = getattr(c, name)
        if value < 0:
            yield f"{name} must be >= 0, got {value!r}", f"use a non-negative {name}", (name,)
    for name in ("adam_beta1", "adam_beta2"):
        value = getattr(c, name)
        if not 0 <= value < 1:
            yield f"{name} must be in [0, 1), got {value!r}", f"use e.g. {name}=0.9", (name,)
