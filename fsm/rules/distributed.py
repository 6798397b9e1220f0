"""Rules on distributed strategies: FSDP, DeepSpeed and DDP settings.

FSDP needs a distributed launch across accelerators. accelerate (1.x) silently drops
the FSDP plugin in a single process and in a multi-process CPU run, so the set-up would
train unsharded: refused. Before anything runs, the launcher's environment tells
(``torchrun`` and ``accelerate launch`` set ``LOCAL_RANK`` and ``WORLD_SIZE``; MPI sets
its own sizes) and ``use_cpu`` is known; once the accelerator exists, the
``resolve_strategy`` transition checks that accelerate really took the plugin up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from fsm.guards import GuardSubject, rule
from fsm.rules.enums import unknown_choice

__all__ = ["DDP_BACKENDS", "FSDP_OPTIONS", "launched_distributed"]

FSDP_OPTIONS = ("full_shard", "shard_grad_op", "no_shard", "hybrid_shard", "hybrid_shard_zero2", "offload", "auto_wrap")
"""The `fsdp` options transformers knows."""

DDP_BACKENDS = ("nccl", "gloo", "mpi", "xccl", "hccl", "cncl", "mccl")
"""The `ddp_backend` values transformers accepts."""

_WORLD_SIZE_ENV = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

# fsdp_config keys in transformers' spelling, and the FullyShardedDataParallelPlugin argument they mean
_TRANSFORMERS_FSDP_KEYS = {
    "transformer_layer_cls_to_wrap": "transformer_cls_names_to_wrap",
    "version": "fsdp_version",
    "min_num_params": "min_num_params",
}


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def launched_distributed() -> bool:
    """Whether the environment says this process was launched for distributed training."""
    if _int_env("LOCAL_RANK", -1) != -1:
        return True
    return any(_int_env(name, 1) > 1 for name in _WORLD_SIZE_ENV)


def _fsdp_options(value: Any) -> list[str]:
    if not value:
        return []
    return value.split() if isinstance(value, str) else list(value)


@rule("distributed.fsdp_with_deepspeed", fields=("fsdp", "deepspeed"))
def fsdp_with_deepspeed(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fsdp and deepspeed are not both set."""
    if s.config.fsdp and s.config.deepspeed:
        yield "fsdp and deepspeed are both set: one strategy shards the model", "keep one of fsdp and deepspeed"


@rule("distributed.fsdp_not_distributed", fields=("fsdp",))
def fsdp_not_distributed(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fsdp runs only in a distributed launch (LOCAL_RANK or WORLD_SIZE > 1 in the environment)."""
    if s.config.fsdp and not launched_distributed():
        yield (
            f"fsdp={s.config.fsdp!r} only works in distributed training, but this process was not launched "
            "for it (no LOCAL_RANK, WORLD_SIZE <= 1)",
            "launch with `torchrun --nproc_per_node N script.py` or `accelerate launch`, or drop fsdp",
        )


@rule("distributed.fsdp_on_cpu", fields=("fsdp", "use_cpu"))
def fsdp_on_cpu(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fsdp is not combined with use_cpu (accelerate shards only across accelerators)."""
    if s.config.fsdp and s.config.use_cpu:
        yield (
            f"fsdp={s.config.fsdp!r} with use_cpu=True: accelerate shards with FSDP only across GPUs "
            "(or other accelerators) and would train unsharded on the CPU",
            "drop use_cpu to shard across the GPUs, or drop fsdp on the CPU",
        )


@rule("distributed.fsdp_dropped", fields=("fsdp",), trigger="resolve_strategy")
def fsdp_dropped(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fsdp was taken up by the accelerator (accelerate drops the plugin outside multi-accelerator runs)."""
    accelerator = getattr(s.context, "accelerator", None)
    if not s.config.fsdp or accelerator is None:
        return
    if getattr(accelerator.state, "fsdp_plugin", None) is None:
        kind = str(getattr(accelerator.distributed_type, "value", accelerator.distributed_type))
        yield (
            f"fsdp={s.config.fsdp!r} but accelerate set up {accelerator.num_processes} process(es) of distributed "
            f"type {kind} on {accelerator.device.type!r} and dropped the FSDP plugin: the model would train unsharded",
            "launch every rank on its GPU with torchrun or accelerate launch (LOCAL_RANK set), or drop fsdp",
        )


@rule("distributed.fsdp_unknown_option", fields=("fsdp",))
def fsdp_unknown_option(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Every fsdp option is a known one (full_shard, shard_grad_op, offload, auto_wrap, ...)."""
    for option in _fsdp_options(s.config.fsdp):
        yield from unknown_choice("fsdp option", option, FSDP_OPTIONS)


@rule("distributed.fsdp_config_unknown_key", fields=("fsdp", "fsdp_config"))
def fsdp_config_unknown_key(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fsdp_config keys are arguments of accelerate's FullyShardedDataParallelPlugin."""
    c = s.config
    if not c.fsdp or not c.fsdp_config or getattr(c, "reports_through_transformers", False):
        return  # (the drop-in transformers Trainer builds the plugin from transformers' own keys)
    import dataclasses

    from accelerate.utils import FullyShardedDataParallelPlugin

    known = {f.name for f in dataclasses.fields(FullyShardedDataParallelPlugin) if f.init}
    for key in c.fsdp_config:
        if key in known:
            continue
        bare = str(key).removeprefix("fsdp_")
        meant = _TRANSFORMERS_FSDP_KEYS.get(bare, bare)
        if meant in known:
            hint = f"write {meant!r}, the name accelerate's FullyShardedDataParallelPlugin takes"
        else:
            hint = "use the arguments of accelerate.utils.FullyShardedDataParallelPlugin (e.g. 'cpu_offload')"
        yield f"fsdp_config has an unknown key {key!r}", hint


@rule("distributed.deepspeed_not_installed", fields=("deepspeed",))
def deepspeed_not_installed(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """deepspeed is set only where the deepspeed package is installed."""
    if s.config.deepspeed:
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            yield (
                "deepspeed is set but the deepspeed package is not installed",
                "pip install deepspeed, or drop deepspeed",
            )


@rule("distributed.deepspeed_config_missing", fields=("deepspeed",))
def deepspeed_config_missing(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """A deepspeed config given as a path names an existing file."""
    value = s.config.deepspeed
    if isinstance(value, str) and value and not value.lstrip().startswith("{") and not os.path.isfile(value):
        yield (
            f"deepspeed={value!r} is not a file",
            "give the path of a DeepSpeed JSON config, or the config itself as a dict",
        )


@rule("distributed.ddp_backend", fields=("ddp_backend",))
def ddp_backend(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """ddp_backend, when set, is one of nccl, gloo, mpi, xccl, hccl, cncl, mccl."""
    if s.config.ddp_backend is not None:
        yield from unknown_choice("ddp_backend", s.config.ddp_backend, DDP_BACKENDS)


@rule("distributed.ddp_timeout_positive", fields=("ddp_timeout",))
def ddp_timeout_positive(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """ddp_timeout is > 0 seconds."""
    if s.config.ddp_timeout <= 0:
        yield (
            f"ddp_timeout must be > 0 seconds, got {s.config.ddp_timeout!r}",
            "use the default 1800, or the seconds a collective may wait",
        )
