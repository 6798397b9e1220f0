"""Rules that run on a transition: they need what an earlier phase decided.

When one rejects, the transition does not happen: the machine stays in the state it
had reached (not Failed, nothing broke), `ConfigError` names the rule and the
transition, and `GuardRejected` carries the phase. A valid change then lets it go on.
"""

from __future__ import annotations

import socket

import pytest
import torch
from torch import nn

from events.testing import capture_events
from events.types import GuardRejected
from fsm import ConfigError, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP
from fsm.guards import rules_for
from fsm.phases import TRIGGERS

TRANSITION_RULES = {
    "model.init_cannot_compute_loss",
    "model.init_meta_parameters",
    "distributed.fsdp_dropped",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_rank_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment torchrun gives a one-process launch."""
    for name, value in {"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))


def test_every_transition_rule_is_tested_here():
    """The transition rules of the catalogue are exactly the ones this module exercises."""
    found = {r.id for t in TRIGGERS for r in rules_for(t) if r.check.__module__.startswith("fsm.rules.")}
    assert found == TRANSITION_RULES


def test_model_init_without_a_loss_is_refused_on_resolve_strategy(cpu_config):
    """A model_init that builds a bare nn.Linear is refused once built; the machine stays in ModelResolved."""
    init = TrainerInit(cpu_config, model_init=lambda: nn.Linear(8, 1), train_dataset=SyntheticRegression(16))
    with capture_events() as events, pytest.raises(ConfigError) as caught:
        init.run()
    message = str(caught.value)
    assert message.startswith("the 'resolve_strategy' transition was rejected: 1 problem; the machine stays in")
    assert "[model.init_cannot_compute_loss] model_init built a model that cannot train: Linear.forward" in message
    assert init.state == "ModelResolved"
    assert init.failed_phase is None and init.error is None
    (rejected,) = events.of_type(GuardRejected)
    assert rejected.phase == "resolve_strategy"
    assert [v["rule"] for v in rejected.violations] == ["model.init_cannot_compute_loss"]
    assert "PhaseFailed" not in events.names()


def test_after_a_transition_rejection_a_fix_goes_on_to_ready(cpu_config):
    """Reconfiguring what the rule asked for (label smoothing computes the loss) lets run() reach Ready."""
    init = TrainerInit(cpu_config, model_init=lambda: nn.Linear(8, 1), train_dataset=SyntheticRegression(16), log=False)
    with pytest.raises(ConfigError, match=r"model\.init_cannot_compute_loss"):
        init.run()
    init.reconfigure(label_smoothing_factor=0.1)
    assert init.run() is not None
    assert init.state == "Ready"


def test_model_init_with_a_loss_passes(cpu_config):
    """A model_init that builds a model taking labels passes the same transition."""
    init = TrainerInit(cpu_config, model_init=TinyMLP, train_dataset=SyntheticRegression(16), log=False)
    init.run()
    assert init.state == "Ready"


def test_model_init_building_on_the_meta_device_is_refused(cpu_config):
    """A model_init that builds shapes without data is refused before placement tries to move it."""

    def on_meta() -> nn.Module:
        with torch.device("meta"):
            return TinyMLP()

    init = TrainerInit(cpu_config, model_init=on_meta, train_dataset=SyntheticRegression(16), log=False)
    with pytest.raises(ConfigError, match=r"\[model\.init_meta_parameters\] model_init built a model") as caught:
        init.run()
    assert [v.rule for v in caught.value.violations] == ["model.init_meta_parameters"]
    assert init.state == "ModelResolved"


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU accelerate takes FSDP up (see the next test)")
def test_fsdp_dropped_by_accelerate_is_refused(cpu_config, mlp_inputs, monkeypatch):
    """A one-rank launch without a GPU passes the static checks (LOCAL_RANK set, use_cpu off), but accelerate
    sets up a CPU process and drops FSDP: the resolve_strategy transition refuses it, naming what it decided."""
    import torch.distributed as dist

    _one_rank_launch(monkeypatch)
    init = TrainerInit(cpu_config.replace(fsdp="full_shard", use_cpu=False), **mlp_inputs, log=False)
    try:
        with pytest.raises(ConfigError, match=r"\[distributed\.fsdp_dropped\] fsdp='full_shard' but accelerate"):
            init.run()
        assert init.state == "ModelResolved"
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="FSDP is taken up only across GPUs")
def test_fsdp_taken_up_on_a_gpu_passes(cpu_config, mlp_inputs, monkeypatch):
    """A one-rank launch on a GPU (LOCAL_RANK set) gets the FSDP plugin, so the transition passes."""
    import torch.distributed as dist

    _one_rank_launch(monkeypatch)
    init = TrainerInit(cpu_config.replace(fsdp="full_shard", use_cpu=False), **mlp_inputs, log=False)
    try:
        init.run()
        assert init.state == "Ready"
        assert init.context.is_fsdp_enabled
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
