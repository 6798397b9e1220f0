"""resolve_strategy and place: when the model is moved, and why not."""

from __future__ import annotations

import torch

from events.testing import capture_events
from fsm import InitConfig, TrainerInit
from fsm.demo import TinyMLP
from handlers.strategy import is_model_parallel


def test_hf_device_map_over_two_devices_is_model_parallel():
    """A device map spanning two accelerators is model parallel; cpu/disk entries do not count."""
    cpu = torch.device("cpu")
    model = TinyMLP()
    model.hf_device_map = {"net.0": 0, "net.2": 1}
    assert is_model_parallel(model, cpu)
    model.hf_device_map = {"net.0": "cpu", "net.2": "disk"}
    assert not is_model_parallel(model, cpu)
    assert not is_model_parallel(TinyMLP(), cpu)


def _placed(config: InitConfig, model):
    with capture_events() as events:
        setup = TrainerInit(config, model=model, log=False).run()
    return setup, events.of_type(__import__("events").ModelPlaced)[0], events


def test_model_parallel_model_is_not_moved_and_the_event_says_why(cpu_config):
    """A model spread by hf_device_map stays where it is; ModelPlaced gives the reason."""
    model = TinyMLP()
    model.hf_device_map = {"net.0": 0, "net.2": 1}
    setup, placed, _events = _placed(cpu_config, model)
    assert setup.is_model_parallel and not setup.place_model_on_device
    assert placed.moved is False and "model parallel" in placed.reason


def test_placement_turned_off_by_the_user(cpu_config):
    """place_model_on_device=False is honoured and named in the reason."""
    _setup, placed, _ = _placed(cpu_config.replace(place_model_on_device=False), TinyMLP())
    assert placed.moved is False and "place_model_on_device=False" in placed.reason


def test_full_precision_eval_postpones_placement(cpu_config):
    """bf16_full_eval keeps the model where it is, as transformers does."""
    setup, placed, events = _placed(cpu_config.replace(bf16_full_eval=True), TinyMLP())
    assert not setup.place_model_on_device and "full fp16/bf16 evaluation" in placed.reason
    strategy = events.of_type(__import__("events").StrategyResolved)[0]
    assert strategy.reasons == ["full fp16/bf16 evaluation casts the model first"]


def test_model_already_on_the_device_is_not_moved(cpu_config):
    """On CPU a CPU model stays; the event says it was already there."""
    _, placed, _ = _placed(cpu_config, TinyMLP())
    assert placed.moved is False and placed.reason == "already on cpu"
