"""finalize: use_cache from the config, memory metrics when asked, rollback."""

from __future__ import annotations

from fsm import TrainerInit
from fsm.demo import TinyLMConfig, TinyTransformerLM
from handlers import FinalizePhase


def test_use_cache_follows_the_config_and_rolls_back(cpu_config):
    """use_cache is set on models whose config has it; rollback restores the old value."""
    model = TinyTransformerLM(TinyLMConfig(use_cache=True))
    init = TrainerInit(cpu_config.replace(skip_memory_metrics=False), model=model, log=False)
    setup = init.run()
    assert model.config.use_cache is False
    assert setup.accelerator is not None and init.context.memory_metrics["cpu_peak_bytes"] > 0
    FinalizePhase().rollback(init.context)
    assert model.config.use_cache is True
