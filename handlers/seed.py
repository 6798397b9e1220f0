"""Phase 1, `seed`: seed python, numpy and torch (and full determinism when asked).

It runs before `model_init`, so a model built there starts from the seeded RNGs.
Rollback puts back the RNG states and determinism switches that were in force before.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

from events.types import SeedSet
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["SeedPhase"]

# Environment variables that full determinism sets (as transformers does).
_DETERMINISM_ENV = {
    "CUDA_LAUNCH_BLOCKING": "1",
    "CUBLAS_WORKSPACE_CONFIG": ":16:8",
    "FLASH_ATTENTION_DETERMINISTIC": "1",
}


def capture_rng_state() -> dict[str, Any]:
    """Every RNG and determinism switch the seed phase may change."""
    import numpy as np
    import torch

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "env": {k: os.environ.get(k) for k in _DETERMINISM_ENV},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what `capture_rng_state` recorded."""
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])
    if torch.are_deterministic_algorithms_enabled() != state["deterministic_algorithms"]:
        torch.use_deterministic_algorithms(state["deterministic_algorithms"])  # slow on first use
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = state["cudnn_benchmark"]
    for key, value in state["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class SeedPhase(Phase):
    """Seed every RNG with `config.seed`; with `full_determinism`, also force
    deterministic algorithms (slower, reproducible)."""

    trigger = "seed"
    reads = frozenset({"seed", "full_determinism", "data_seed"})

    def run(self, ctx: SetupContext) -> SeedSet:
        import torch
        from accelerate.utils import set_seed

        config = ctx.config
        ctx.undo[self.trigger] = capture_rng_state()
        if config.full_determinism:
            os.environ.update(_DETERMINISM_ENV)
            set_seed(config.seed, deterministic=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        else:
            set_seed(config.seed)
        ctx.seed = config.seed
        return SeedSet(
            seed=config.seed,
            full_determinism=config.full_determinism,
            data_seed=config.data_seed,
        )

    def rollback(self, ctx: SetupContext) -> None:
        saved = ctx.undo.get(self.trigger)
        if saved is not None:
            restore_rng_state(saved)
