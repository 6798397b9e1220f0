"""Factories that examples/config.yaml names by import path (`my_factories:...`).

trainer-fsm adds the config file's folder to the import path, so a module next to the
file can hold your own models, data, collators and callbacks.
"""

from __future__ import annotations

from typing import Any

from fsm import TrainerCallback
from handlers.arguments import default_data_collator


class AnnounceReady(TrainerCallback):
    """Prints one line when the set-up is Ready (the `on_init_end` hook)."""

    def __init__(self, message: str = "ready") -> None:
        self.message = message

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        print(f"[AnnounceReady] {self.message}: max_steps={state.max_steps}")
        return control


def scaled_collator(features: list[Any], scale: float = 1.0) -> Any:
    """The default collator, with the inputs `x` multiplied by `scale`."""
    batch = default_data_collator(features)
    batch["x"] = batch["x"] * scale
    return batch
