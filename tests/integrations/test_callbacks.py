"""transformers TrainerCallbacks in the core TrainerInit: called with transformers' objects."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

from fsm import InitConfig, TrainerCallback, TrainerInit  # noqa: E402
from handlers.trainer_state import TrainerControl, TrainerState  # noqa: E402


class Recorder(transformers.TrainerCallback):
    """Records what on_init_end received, and asks training to stop."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_init_end(self, args, state, control, **kwargs):
        self.calls.append((args, state, control, kwargs))
        control.should_training_stop = True
        state.trial_name = "seen-by-transformers-callback"
        return control


class ClassRecorder(transformers.TrainerCallback):
    """Counts on_init_end calls on the class (it is passed as a class, not an instance)."""

    calls = 0

    def on_init_end(self, args, state, control, **kwargs):
        type(self).calls += 1
        assert isinstance(args, transformers.TrainingArguments)


class CoreRecorder(TrainerCallback):
    """A trainer-fsm callback: records the types it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[type, type, type]] = []

    def on_init_end(self, args, state, control, **kwargs):
        self.seen.append((type(args), type(state), type(control)))


def test_transformers_callback_gets_transformers_objects_once(cpu_config, mlp_inputs):
    """A transformers callback sees on_init_end exactly once, with TrainingArguments, TrainerState, TrainerControl."""
    recorder, core = Recorder(), CoreRecorder()
    ClassRecorder.calls = 0
    setup = TrainerInit(cpu_config, callbacks=[recorder, ClassRecorder, core], log=False, **mlp_inputs).run()
    assert len(recorder.calls) == 1
    assert ClassRecorder.calls == 1
    args, state, control, kwargs = recorder.calls[0]
    assert isinstance(args, transformers.TrainingArguments)
    assert args.output_dir == cpu_config.output_dir
    assert args.per_device_train_batch_size == cpu_config.per_device_train_batch_size
    assert isinstance(state, transformers.TrainerState)
    assert isinstance(control, transformers.TrainerControl)
    assert kwargs["model"] is setup.model
    # what the transformers callback changed reaches trainer-fsm's own objects
    assert isinstance(setup.control, TrainerControl) and setup.control.should_training_stop is True
    assert isinstance(setup.state, TrainerState) and setup.state.trial_name == "seen-by-transformers-callback"
    # core callbacks keep getting trainer-fsm's objects
    assert core.seen == [(InitConfig, TrainerState, TrainerControl)]


def test_transformers_callback_is_listed_under_its_own_name(cpu_config, mlp_inputs):
    """The callback list keeps the user's object (no wrapper), in transformers' order."""
    recorder = Recorder()
    setup = TrainerInit(cpu_config, callbacks=[recorder], log=False, **mlp_inputs).run()
    names = [type(cb).__name__ for cb in setup.callbacks.callbacks]
    assert names == ["DefaultFlowCallback", "Recorder", "ProgressCallback"]
    assert setup.callbacks.callbacks[1] is recorder
