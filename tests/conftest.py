"""Shared fixtures: a clean accelerate state and working directory for every test."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run each test in its own directory, and leave accelerate's singletons as found."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    saved = [dict(s) for s in (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state)]
    logger_level = logging.getLogger("trainer_fsm").level
    yield
    for live, before in zip(
        (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state), saved, strict=True
    ):
        live.clear()
        live.update(before)
    logging.getLogger("trainer_fsm").setLevel(logger_level)


@pytest.fixture
def cpu_config(tmp_path):
    """A small CPU config writing into the test's own directory."""
    from fsm import InitConfig

    return InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True, per_device_train_batch_size=16)


@pytest.fixture
def mlp_inputs():
    """A tiny MLP and a synthetic regression dataset."""
    from fsm.demo import demo_inputs

    return demo_inputs("mlp", samples=128)


@pytest.fixture
def lm_inputs():
    """A tiny transformer LM (forward takes labels) and synthetic token data."""
    from fsm.demo import demo_inputs

    return demo_inputs("lm", samples=64)
