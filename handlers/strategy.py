"""Phase 4, `resolve_strategy`: model parallel, FSDP, DeepSpeed, and whether to place.

A model with an `hf_device_map` spanning several devices is model parallel. The model
is *not* moved to the device by the next phase when it is model parallel, under FSDP
or DeepSpeed, for full fp16/bf16 evaluation, or when the user turned placement off;
`reasons` records which of these applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from events.types import StrategyResolved
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["ResolveStrategyPhase", "is_model_parallel"]


def is_model_parallel(model: object, device: object) -> bool:
    """Whether `model` is spread over devices by an `hf_device_map` (as transformers tells)."""
    import torch

    device_map = getattr(model, "hf_device_map", None)
    if not device_map:
        return False
    devices = {str(d) for d in device_map.values()} - {"cpu", "disk"}
    if len(devices) > 1:
        return True
    if len(devices) == 1:
        only = devices.pop()
        target = torch.device(int(only)) if only.isdigit() else torch.device(only)
        return target != device
    return False


class ResolveStrategyPhase(Phase):
    """Decide how the model is spread and whether the accelerator may move it."""

    trigger = "resolve_strategy"
    reads = frozenset({"fsdp", "fsdp_config", "deepspeed", "fp16_full_eval", "bf16_full_eval", "place_model_on_device"})

    def run(self, ctx: SetupContext) -> StrategyResolved:
        config, accelerator = ctx.config, ctx.accelerator
        state = accelerator.state
        ctx.is_model_parallel = is_model_parallel(ctx.model, accelerator.device)
        ctx.is_fsdp_enabled = getattr(state, "fsdp_plugin", None) is not None
        ctx.is_deepspeed_enabled = getattr(state, "deepspeed_plugin", None) is not None
        reasons = []
        if config.place_model_on_device is False:
            reasons.append("place_model_on_device=False")
        if ctx.is_model_parallel:
            reasons.append("model is model parallel (hf_device_map spans devices)")
        if ctx.is_fsdp_enabled:
            reasons.append("FSDP shards and places the model")
        if ctx.is_deepspeed_enabled:
            reasons.append("DeepSpeed places the model")
        if config.fp16_full_eval or config.bf16_full_eval:
            reasons.append("full fp16/bf16 evaluation casts the model first")
        if config.place_model_on_device is True:
            reasons = []
        ctx.place_model_on_device = not reasons
        ctx.placement_reasons = tuple(reasons)
        return StrategyResolved(
            distributed_type=str(accelerator.distributed_type.value),
            is_model_parallel=ctx.is_model_parallel,
            fsdp=ctx.is_fsdp_enabled,
            deepspeed=ctx.is_deepspeed_enabled,
            place_model_on_device=ctx.place_model_on_device,
            reasons=list(reasons),
        )
