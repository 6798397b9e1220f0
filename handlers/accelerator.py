"""Phase 2, `accelerate`: build the `accelerate.Accelerator` and set log levels.

Log levels are set on trainer-fsm's own logger ("trainer_fsm") only, never on the root
logger. Rollback puts accelerate's process-wide state back as it was, so a later
attempt (with other precision settings, say) can build a new Accelerator.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from events.types import AcceleratorReady
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["LIBRARY_LOGGER", "AcceleratePhase"]

LIBRARY_LOGGER = "trainer_fsm"
"""Name of the stdlib logger trainer-fsm owns; `log_level` applies to it alone."""


def _shared_states() -> list[Any]:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    return [PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state]


class AcceleratePhase(Phase):
    """Create the Accelerator from the precision, CPU and strategy settings."""

    trigger = "accelerate"
    reads = frozenset(
        {
            "use_cpu",
            "fp16",
            "bf16",
            "gradient_accumulation_steps",
            "fsdp",
            "fsdp_config",
            "deepspeed",
            "ddp_backend",
            "ddp_timeout",
            "ddp_find_unused_parameters",
            "log_level",
            "log_level_replica",
        }
    )

    def run(self, ctx: SetupContext) -> AcceleratorReady:
        config = ctx.config
        logger = logging.getLogger(LIBRARY_LOGGER)
        ctx.undo[self.trigger] = {
            "shared_states": [dict(s) for s in _shared_states()],
            "log_level": logger.level,
            "bus": (ctx.bus.rank, ctx.bus.world_size),
        }
        accelerator = self.build_accelerator(ctx)
        ctx.accelerator = accelerator
        ctx.device = accelerator.device
        level = config.log_level if accelerator.is_main_process else config.log_level_replica
        if level != "passive":
            logger.setLevel(level.upper())
        ctx.log_level = level
        ctx.bus.rank = accelerator.process_index
        ctx.bus.world_size = accelerator.num_processes
        return AcceleratorReady(
            device=str(accelerator.device),
            distributed_type=str(accelerator.distributed_type.value),
            mixed_precision=str(accelerator.mixed_precision),
            num_processes=accelerator.num_processes,
            process_index=accelerator.process_index,
            local_process_index=accelerator.local_process_index,
            gradient_accumulation_steps=accelerator.gradient_accumulation_steps,
            log_level=level,
        )

    def build_accelerator(self, ctx: SetupContext) -> Any:
        """The Accelerator for `ctx.config`; override to pass plugins of your own."""
        from datetime import timedelta

        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

        config = ctx.config
        kwargs: dict[str, Any] = {}
        if config.fsdp_list:
            from accelerate.utils import FullyShardedDataParallelPlugin

            kwargs["fsdp_plugin"] = FullyShardedDataParallelPlugin(**(config.fsdp_config or {}))
        if config.deepspeed:
            from accelerate.utils import DeepSpeedPlugin

            kwargs["deepspeed_plugin"] = DeepSpeedPlugin(hf_ds_config=config.deepspeed)
        handlers: list[Any] = [InitProcessGroupKwargs(timeout=timedelta(seconds=config.ddp_timeout))]
        if config.ddp_find_unused_parameters is not None:
            handlers.append(DistributedDataParallelKwargs(find_unused_parameters=config.ddp_find_unused_parameters))
        if config.ddp_backend is not None:
            handlers[0] = InitProcessGroupKwargs(
                backend=config.ddp_backend, timeout=timedelta(seconds=config.ddp_timeout)
            )
        return Accelerator(
            cpu=config.use_cpu,
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            kwargs_handlers=handlers,
            **kwargs,
        )

    def rollback(self, ctx: SetupContext) -> None:
        saved = ctx.undo.get(self.trigger)
        if saved is None:
            return
        for live, before in zip(_shared_states(), saved["shared_states"], strict=True):
            live.clear()
            live.update(before)
        logging.getLogger(LIBRARY_LOGGER).setLevel(saved["log_level"])
        ctx.bus.rank, ctx.bus.world_size = saved["bus"]
