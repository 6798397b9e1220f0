"""Config files: parsing, import-path factories and what each input key means."""

from __future__ import annotations

import functools

import pytest

from fsm import InitConfig
from fsm.cli._config_file import (
    DEFAULT_CONFIG,
    ConfigFileError,
    FactoryError,
    load_config,
    parse_config,
    read_config_file,
)
from fsm.demo import SyntheticRegression, TinyMLP

HELPERS = """
calls = []

def make_model(width=4):
    calls.append(width)
    from fsm.demo import TinyMLP
    return TinyMLP(hidden=width)

def collate(features, scale=1.0):
    from handlers.arguments import default_data_collator
    batch = default_data_collator(features)
    batch["x"] = batch["x"] * scale
    return batch

class Collator:
    def __init__(self, scale=1.0):
        self.scale = scale
    def __call__(self, features):
        return collate(features, self.scale)
"""


def test_embedded_default_builds_a_tiny_mlp_after_seeding():
    """The default has no file behind it: model_init builds TinyMLP (when called), data is synthetic."""
    file = load_config(None)
    assert file.source == "the embedded default"
    assert file.config.output_dir == DEFAULT_CONFIG["output_dir"] == "trainer_output"
    inputs = file.build_inputs()
    assert isinstance(inputs["train_dataset"], SyntheticRegression) and len(inputs["train_dataset"]) == 256
    model = inputs["model_init"]()
    assert isinstance(model, TinyMLP)
    assert model.net[0].out_features == 32


def test_model_init_is_called_by_the_machine_not_at_load(write):
    """model_init's factory is not called while loading; a plain function is passed as it is."""
    write("helpers_a.py", HELPERS)
    path = write("c.yaml", "model_init: helpers_a:make_model\n")
    file = load_config(path)
    import helpers_a

    inputs = file.build_inputs()
    assert inputs["model_init"] is helpers_a.make_model
    assert helpers_a.calls == []
    path = write("d.yaml", "model_init: {factory: helpers_a:make_model, kwargs: {width: 6}}\n")
    model = load_config(path).build_inputs()["model_init"]()
    assert model.net[0].out_features == 6
    assert helpers_a.calls == [6]


def test_collator_class_is_instantiated_and_function_gets_kwargs(write):
    """A collator class becomes an instance; a collator function keeps its name with kwargs bound."""
    write("helpers_b.py", HELPERS)
    import_class = load_config(write("e.yaml", "data_collator: {factory: helpers_b:Collator, kwargs: {scale: 2}}\n"))
    collator = import_class.build_inputs()["data_collator"]
    assert type(collator).__name__ == "Collator" and collator.scale == 2
    bound = load_config(write("f.yaml", "data_collator: {factory: helpers_b:collate, kwargs: {scale: 3}}\n"))
    fn = bound.build_inputs()["data_collator"]
    assert isinstance(fn, functools.partial) and fn.keywords == {"scale": 3} and fn.__name__ == "collate"
    batch = fn([SyntheticRegression(2)[0], SyntheticRegression(2)[1]])
    assert batch["x"].shape == (2, 8)


def test_yaml_float_without_a_dot_is_read_as_a_float():
    """`learning_rate: 1e-3` (a string to PyYAML) becomes 0.001; strings elsewhere stay strings."""
    file = parse_config({"learning_rate": "1e-3", "run_name": "1e3", "model": "fsm.demo:TinyMLP"})
    assert file.config.learning_rate == pytest.approx(0.001)
    assert file.config.run_name == "1e3"


def test_json_file_and_callbacks(write):
    """A .json file is read as JSON; each callbacks entry is built by its factory."""
    path = write("g.json", '{"seed": 5, "model": "fsm.demo:TinyMLP", "callbacks": ["fsm:TrainerCallback"]}')
    file = load_config(path)
    assert file.config == InitConfig(seed=5)
    inputs = file.build_inputs()
    assert type(inputs["callbacks"][0]).__name__ == "TrainerCallback"
    assert file.describe() == "model=fsm.demo:TinyMLP, callbacks=[fsm:TrainerCallback]"


def test_malformed_specs_name_their_key():
    """Wrong shapes of input entries are all reported, each naming its key."""
    with pytest.raises(ConfigFileError, match="4 problems") as info:
        parse_config({
            "model": 3,
            "train_dataset": {"factory": "fsm.demo:SyntheticRegression", "args": [1]},
            "eval_dataset": {"kwargs": {"n": 2}},
            "callbacks": "fsm:TrainerCallback",
        })  # fmt: skip
    problems = info.value.problems
    assert problems[0].startswith("model: give an import path")
    assert problems[1].startswith("train_dataset: unknown key(s) args")
    assert problems[2].startswith("eval_dataset.factory: missing")
    assert problems[3].startswith("callbacks: must be a list")


def test_not_callable_factory_is_rejected():
    """An import path that names a non-callable is rejected with the key."""
    with pytest.raises(ConfigFileError, match=r"model: fsm\.phases:PHASES is a tuple, not a callable factory"):
        parse_config({"model": "fsm.phases:PHASES"})


def test_factory_that_raises_is_a_factory_error_naming_the_key():
    """A dataset factory raising while inputs are built gives FactoryError with key and call."""
    file = parse_config({"train_dataset": {"factory": "fsm.demo:demo_inputs", "kwargs": {"kind": "nope"}}})
    with pytest.raises(FactoryError, match=r"train_dataset: fsm\.demo:demo_inputs\(kind='nope'\) raised ValueError"):
        file.build_inputs()


def test_empty_file_is_an_empty_config(write):
    """An empty YAML file reads as {} (the guards then say what is missing)."""
    assert read_config_file(write("empty.yaml", "")) == {}
