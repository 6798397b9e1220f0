"""Recovering from a failed phase: the machine stops in Failed, keeps what the earlier
phases built, and goes on from there once the cause is fixed.

Here the model's weights are loaded from a file that does not exist yet: the
`resolve_model` phase fails. We write the file and `resume()`: only the failed phase
and the ones after it run; seeding and the accelerator are not redone.

    python examples/recover.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from events import PhaseStarted
from fsm import InitConfig, PhaseError, RetryPolicy, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP

WEIGHTS = Path("trainer_output") / "pretrained.pt"


def load_pretrained() -> TinyMLP:
    """A model_init that needs a weights file (FileNotFoundError is not transient)."""
    model = TinyMLP()
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model


init = TrainerInit(
    InitConfig(output_dir="trainer_output"),
    model_init=load_pretrained,
    train_dataset=SyntheticRegression(64),
    # transient errors (connection resets, timeouts) of this phase: up to 5 attempts
    retry={"resolve_model": RetryPolicy(max_attempts=5, initial_delay=0.1)},
    log=False,
)
ran: list[str] = []
init.bus.subscribe(PhaseStarted, lambda event: ran.append(event.phase))

try:
    init.run()
except PhaseError as err:
    print(f"failed: {err}")
    print(f"state={init.state} failed_phase={init.failed_phase} last_good_state={init.last_good_state}")
    print(f"cause: {type(init.error).__name__}")

# Fix the cause, then go on: resume() retries the failed phase first, then runs to Ready.
WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
torch.save(TinyMLP().state_dict(), WEIGHTS)
ran.clear()
setup = init.resume()
print(f"resumed to {init.state}, running only: {', '.join(ran)}")
print(f"model has {sum(p.numel() for p in setup.model.parameters())} parameters, loaded from {WEIGHTS}")

# init.retry() would re-run only the failed phase and stop there; init.step() runs one more.
