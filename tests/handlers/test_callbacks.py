"""The default flow callback and the callback handler."""

from __future__ import annotations

import pytest

from fsm import InitConfig, TrainerControl, TrainerState
from handlers import CallbackHandler, DefaultFlowCallback, TrainerCallback


def _step(config, step, max_steps=100):
    state = TrainerState(global_step=step, max_steps=max_steps)
    state.compute_steps(config, max_steps)
    return DefaultFlowCallback().on_step_end(config, state, TrainerControl())


def test_flow_logs_evaluates_and_saves_on_their_steps():
    """Step-based strategies flip the controls on multiples of their steps."""
    config = InitConfig(logging_steps=10, eval_strategy="steps", eval_steps=20, save_steps=50)
    assert _step(config, 10).should_log and not _step(config, 10).should_evaluate
    c = _step(config, 20)
    assert c.should_log and c.should_evaluate and not c.should_save
    assert _step(config, 50).should_save
    assert not any(vars(_step(config, 7)).values())


def test_flow_stops_and_saves_at_max_steps():
    """Reaching max_steps stops training and saves."""
    c = _step(InitConfig(save_steps=1000), 100, max_steps=100)
    assert c.should_training_stop and c.should_save


def test_epoch_strategies():
    """epoch strategies act at the end of an epoch."""
    config = InitConfig(logging_strategy="epoch", eval_strategy="epoch", save_strategy="epoch")
    c = DefaultFlowCallback().on_epoch_end(config, TrainerState(epoch=1.0), TrainerControl())
    assert c.should_log and c.should_evaluate and c.should_save


def test_handler_runs_callbacks_in_order_and_passes_objects():
    """call() runs each callback with the shared objects; a returned control replaces it."""
    order = []

    class A(TrainerCallback):
        def on_log(self, args, state, control, model=None, **kwargs):
            order.append(("A", model, kwargs["logs"]))
            control.should_save = True
            return control

    class B(TrainerCallback):
        def on_log(self, args, state, control, **kwargs):
            order.append(("B", control.should_save))

    handler = CallbackHandler([A, B()], model="m")
    handler.call("on_log", InitConfig(), TrainerState(), TrainerControl(), logs={"loss": 1.0})
    assert order == [("A", "m", {"loss": 1.0}), ("B", True)]
    assert handler.pop_callback(A) is not None and [type(c) for c in handler.callbacks] == [B]
    with pytest.raises(ValueError, match="not a callback event"):
        handler.call("on_lgo", None, None, None)
