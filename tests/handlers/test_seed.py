"""seed: RNGs seeded, determinism switched on when asked, and rollback restores both."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from events import EventBus
from fsm import InitConfig
from handlers import SeedPhase, SetupContext, SetupInputs


def _ctx(**config):
    return SetupContext(config=InitConfig(**config), inputs=SetupInputs(), bus=EventBus())


def test_seeds_python_numpy_and_torch():
    """The same seed gives the same draws from all three RNGs."""
    draws = []
    for _ in range(2):
        SeedPhase().run(_ctx(seed=123))
        draws.append((random.random(), float(np.random.rand()), torch.rand(1).item()))
    assert draws[0] == draws[1]


def test_full_determinism_and_its_rollback(monkeypatch):
    """full_determinism turns on deterministic algorithms and env vars; rollback puts all back."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    ctx = _ctx(seed=1, full_determinism=True)
    rng_before = torch.get_rng_state()
    py_before = random.getstate()
    fact = SeedPhase().run(ctx)
    assert fact.full_determinism is True
    assert torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    SeedPhase().rollback(ctx)
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert random.getstate() == py_before
