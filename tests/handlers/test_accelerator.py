"""accelerate: the Accelerator follows the config; rollback restores accelerate's singletons."""

from __future__ import annotations

import logging

from accelerate.state import AcceleratorState, PartialState

from events import EventBus
from fsm import InitConfig
from handlers import AcceleratePhase, SetupContext, SetupInputs


def _ctx(**config):
    return SetupContext(config=InitConfig(**config), inputs=SetupInputs(), bus=EventBus())


def test_builds_the_accelerator_from_the_config():
    """CPU, bf16 and gradient accumulation reach the Accelerator and the fact event."""
    ctx = _ctx(use_cpu=True, bf16=True, gradient_accumulation_steps=4, log_level="error")
    fact = AcceleratePhase().run(ctx)
    assert str(ctx.accelerator.device) == "cpu"
    assert ctx.accelerator.mixed_precision == "bf16"
    assert ctx.accelerator.gradient_accumulation_steps == 4
    assert (fact.device, fact.mixed_precision, fact.num_processes, fact.log_level) == ("cpu", "bf16", 1, "error")
    assert logging.getLogger("trainer_fsm").level == logging.ERROR


def test_rollback_lets_another_precision_be_built():
    """After rollback accelerate's state is as before, so a different precision is accepted."""
    assert not AcceleratorState._shared_state
    ctx = _ctx(use_cpu=True, bf16=True)
    phase = AcceleratePhase()
    phase.run(ctx)
    assert AcceleratorState._shared_state
    phase.rollback(ctx)
    assert not AcceleratorState._shared_state and not PartialState._shared_state
    ctx2 = _ctx(use_cpu=True)
    phase.run(ctx2)
    assert ctx2.accelerator.mixed_precision == "no"


def test_passive_log_level_leaves_the_logger_alone():
    """log_level='passive' changes no logger level."""
    logger = logging.getLogger("trainer_fsm")
    logger.setLevel(logging.CRITICAL)
    AcceleratePhase().run(_ctx(use_cpu=True))
    assert logger.level == logging.CRITICAL
