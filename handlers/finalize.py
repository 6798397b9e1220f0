"""Phase 11, `finalize`: set `use_cache` on the model's config and record memory use.

transformers sets ``model.config.use_cache = args.use_cache`` (False by default: a
key/value cache only wastes memory in training); here that happens on models whose
config has the attribute, and rollback puts the old value back.
"""

from __future__ import annotations

import resource
import sys
from typing import TYPE_CHECKING

from events.types import Finalized
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["FinalizePhase", "peak_memory"]


def peak_memory() -> dict[str, int]:
    """Peak resident memory of this process, and of the CUDA allocator when present, in bytes."""
    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    metrics = {"cpu_peak_bytes": rss if sys.platform == "darwin" else rss * 1024}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        metrics["cuda_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    return metrics


class FinalizePhase(Phase):
    """Last touches before Ready: `use_cache` and the memory metrics."""

    trigger = "finalize"
    reads = frozenset({"use_cache", "skip_memory_metrics"})

    def run(self, ctx: SetupContext) -> Finalized:
        model_config = getattr(ctx.model, "config", None)
        use_cache = None
        if model_config is not None and hasattr(model_config, "use_cache"):
            ctx.undo[self.trigger] = model_config.use_cache
            model_config.use_cache = ctx.config.use_cache
            use_cache = ctx.config.use_cache
        ctx.memory_metrics = {} if ctx.config.skip_memory_metrics else peak_memory()
        return Finalized(use_cache=use_cache, memory=dict(ctx.memory_metrics))

    def rollback(self, ctx: SetupContext) -> None:
        if self.trigger in ctx.undo:
            ctx.model.config.use_cache = ctx.undo[self.trigger]
