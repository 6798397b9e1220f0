"""InitConfig <-> transformers TrainingArguments: lossless, carried, reported."""

from __future__ import annotations

import dataclasses
import pickle
import warnings

import pytest

transformers = pytest.importorskip("transformers")

from fsm import ConfigError, InitConfig  # noqa: E402
from fsm.integrations.arguments import (  # noqa: E402
    PlacementTrainingArguments,
    TrainingArgumentsConfig,
    UnmodelledArgumentsWarning,
    unmodelled_changes,
)


def _rich_args(tmp_path, cls=None, **extra):
    cls = cls or transformers.TrainingArguments
    return cls(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to="none",
        max_steps=7,
        learning_rate=3e-3,
        gradient_accumulation_steps=2,
        lr_scheduler_type="cosine",
        eval_strategy="steps",
        eval_steps=3,
        logging_steps=2,
        label_names=["labels"],
        seed=7,
        neftune_noise_alpha=5.0,
        dataloader_drop_last=True,
        hub_token="hf_secretvalue123456",
        **extra,
    )


def _fields(args):
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}


def test_round_trip_through_training_arguments_is_lossless(tmp_path):
    """TrainingArguments -> InitConfig -> TrainingArguments gives back every field, modelled or not."""
    args = _rich_args(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmodelledArgumentsWarning)
        config = InitConfig.from_training_arguments(args)
    again = config.to_training_arguments()
    assert type(again) is type(args)
    assert _fields(again) == _fields(args)
    assert again.to_dict() == args.to_dict()
    assert again.hub_token == "hf_secretvalue123456"


def test_known_fields_map_and_the_rest_are_carried(tmp_path):
    """Modelled fields land on InitConfig as plain values; the others sit in passthrough."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmodelledArgumentsWarning)
        config = InitConfig.from_training_arguments(_rich_args(tmp_path))
    assert isinstance(config, TrainingArgumentsConfig)
    assert (config.max_steps, config.learning_rate, config.seed) == (7, 3e-3, 7)
    assert config.lr_scheduler_type == "cosine" and type(config.lr_scheduler_type) is str
    assert config.eval_strategy == "steps" and config.report_to == []
    assert config.passthrough["neftune_noise_alpha"] == 5.0
    assert "max_steps" not in config.passthrough
    assert set(config.passthrough) | set(InitConfig.field_names()) >= {
        f.name for f in dataclasses.fields(transformers.TrainingArguments) if f.init
    }


def test_unmodelled_settings_are_reported_by_name(tmp_path):
    """A non-default field trainer-fsm does not model is named in an UnmodelledArgumentsWarning."""
    with pytest.warns(UnmodelledArgumentsWarning, match="neftune_noise_alpha"):
        config = InitConfig.from_training_arguments(_rich_args(tmp_path))
    assert "neftune_noise_alpha" in unmodelled_changes(config)
    plain = transformers.TrainingArguments(output_dir=str(tmp_path / "o"), report_to="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmodelledArgumentsWarning)
        assert unmodelled_changes(InitConfig.from_training_arguments(plain)) == {}


def test_config_to_arguments_and_back_keeps_the_config(tmp_path):
    """InitConfig -> TrainingArguments -> InitConfig keeps every field, place_model_on_device too."""
    config = InitConfig(
        output_dir=str(tmp_path / "o"),
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        dataloader_pin_memory=False,
        learning_rate=1e-3,
        optim="adamw_torch",
        place_model_on_device=False,
        label_names=["labels"],
        gradient_checkpointing=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated names passed
        args = config.to_training_arguments()
    assert isinstance(args, PlacementTrainingArguments)
    assert args.place_model_on_device is False
    assert pickle.loads(pickle.dumps(args)).place_model_on_device is False  # transformers saves it with torch.save
    back = InitConfig.from_training_arguments(args)
    # what the config set comes back as set; transformers only normalises unset values
    # (fsdp None -> [], a filled-in fsdp_config; 4.x's lr_scheduler_kwargs None -> {})
    changed = config.diff(back)
    assert set(changed) <= {"fsdp", "fsdp_config", "lr_scheduler_kwargs"}
    assert all(before is None and (not after or isinstance(after, dict)) for before, after in changed.values())
    assert InitConfig.from_training_arguments(back.to_training_arguments()) == back  # then it is stable


def test_secret_is_redacted_in_the_converted_config(tmp_path):
    """hub_token read from TrainingArguments never shows in repr or to_dict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmodelledArgumentsWarning)
        config = InitConfig.from_training_arguments(_rich_args(tmp_path))
    assert "hf_secretvalue123456" not in repr(config)
    assert "hf_secretvalue123456" not in str(config.to_dict())
    assert config.hub_token == "hf_secretvalue123456"


def test_carried_secret_is_registered_and_scrubbed(tmp_path):
    """A secret-named carried field (4.x's push_to_hub_token) is redacted and scrubbed from free text."""
    from events.redact import scrub_text

    args = transformers.TrainingArguments(output_dir=str(tmp_path / "o"), report_to="none")
    config = InitConfig.from_training_arguments(args)
    passthrough = {**config.passthrough, "push_to_hub_token": "hf_carriedsecret98765"}
    carried = config.replace(passthrough=passthrough)
    assert "hf_carriedsecret98765" not in repr(carried)
    assert "hf_carriedsecret98765" not in scrub_text("upload failed with hf_carriedsecret98765")


def test_arguments_subclass_is_rebuilt_with_its_own_fields(tmp_path):
    """A Seq2SeqTrainingArguments comes back as one, with its extra fields."""
    args = _rich_args(tmp_path, cls=transformers.Seq2SeqTrainingArguments, predict_with_generate=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmodelledArgumentsWarning)
        again = InitConfig.from_training_arguments(args).to_training_arguments()
    assert type(again) is transformers.Seq2SeqTrainingArguments
    assert again.predict_with_generate is True
    assert _fields(again) == _fields(args)


def test_not_training_arguments_is_rejected():
    """from_training_arguments names what it got and what to use instead."""
    with pytest.raises(ConfigError, match=r"expects a transformers\.TrainingArguments, got dict.*from_dict"):
        InitConfig.from_training_arguments({"learning_rate": 1.0})


def test_unknown_carried_field_is_an_error_that_changes_nothing(tmp_path):
    """A passthrough field the installed TrainingArguments lacks fails with its name, config untouched."""
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "o"), report_to="none")
    config = InitConfig.from_training_arguments(args)
    config.passthrough["from_a_newer_version"] = 1
    before = config.to_dict(redact_secrets=False)
    with pytest.raises(ConfigError, match=r"no field.*from_a_newer_version"):
        config.to_training_arguments()
    assert config.to_dict(redact_secrets=False) == before


def test_bad_arguments_class_is_an_error(tmp_path):
    """An arguments_class that is not a TrainingArguments class is named in the error."""
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "o"), report_to="none")
    config = InitConfig.from_training_arguments(args).replace(arguments_class="builtins:dict")
    with pytest.raises(ConfigError, match="arguments_class='builtins:dict' is not a TrainingArguments"):
        config.to_training_arguments()
