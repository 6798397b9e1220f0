"""TrainerState and TrainerControl: the trainer_state.json layout of transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsm import TrainerControl, TrainerState

FIXTURE = Path(__file__).parent / "data" / "trainer_state.json"


def test_loads_a_transformers_trainer_state_file():
    """A trainer_state.json in transformers' layout loads field for field."""
    state = TrainerState.load_from_json(FIXTURE)
    assert state.global_step == 40
    assert state.best_metric == 0.3125
    assert state.log_history[1]["eval_loss"] == 0.3125
    assert state.stateful_callbacks["TrainerControl"]["args"]["should_save"] is True


def test_round_trip_is_byte_identical(tmp_path):
    """Saving a loaded state reproduces the file byte for byte (sorted keys, indent 2)."""
    state = TrainerState.load_from_json(FIXTURE)
    out = tmp_path / "trainer_state.json"
    state.save_to_json(out)
    assert out.read_text() == FIXTURE.read_text()
    assert TrainerState.load_from_json(out) == state


def test_fresh_state_has_every_transformers_field():
    """A new state serialises with exactly the keys transformers writes."""
    keys = set(json.loads(TrainerState().to_json_string()))
    assert keys == set(json.loads(FIXTURE.read_text()))


def test_unknown_fields_are_rejected(tmp_path):
    """A file with a field TrainerState lacks is refused with the field named."""
    data = json.loads(FIXTURE.read_text())
    data["global_stpe"] = 1
    with pytest.raises(ValueError, match="global_stpe"):
        TrainerState.from_dict(data)


def test_control_exports_its_state():
    """TrainerControl.state() is what stateful_callbacks stores."""
    control = TrainerControl(should_save=True)
    assert control.state() == {
        "args": {
            "should_training_stop": False,
            "should_epoch_stop": False,
            "should_save": True,
            "should_evaluate": False,
            "should_log": False,
        },
        "attributes": {},
    }


def test_ratio_steps_become_absolute():
    """logging/eval/save steps below 1 are fractions of max_steps, rounded up."""
    from fsm import InitConfig

    state = TrainerState()
    state.compute_steps(InitConfig(logging_steps=0.1, eval_steps=0.25, save_steps=50), 95)
    assert (state.logging_steps, state.eval_steps, state.save_steps) == (10, 24, 50)


def test_setup_state_saves_in_the_same_layout(cpu_config, mlp_inputs):
    """The state a set-up creates saves to JSON transformers can read (same keys)."""
    from fsm import TrainerInit

    setup = TrainerInit(cpu_config, **mlp_inputs).run()
    path = Path(setup.output_dir) / "trainer_state.json"
    setup.state.save_to_json(path)
    data = json.loads(path.read_text())
    assert set(data) == set(json.loads(FIXTURE.read_text()))
    assert data["stateful_callbacks"]["TrainerControl"]["args"]["should_training_stop"] is False
