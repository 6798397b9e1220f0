"""InitConfig: TrainingArguments names, from_dict, secrets, diff."""

from __future__ import annotations

import pytest

from fsm import ConfigError, InitConfig


def test_defaults_follow_training_arguments():
    """Defaults match transformers 5.x TrainingArguments where the fields overlap."""
    c = InitConfig()
    assert (c.seed, c.per_device_train_batch_size, c.logging_steps, c.save_strategy) == (42, 8, 500, "steps")
    assert (c.eval_strategy, c.report_to, c.log_level, c.use_cache, c.max_steps) == ("no", "none", "passive", False, -1)
    assert c.resolved_output_dir == "trainer_output"


def test_from_dict_rejects_every_unknown_key_with_suggestions():
    """All unknown keys are listed at once, each with the closest known name."""
    with pytest.raises(ConfigError, match=r"(?s)'lerning_rate'.*'learning_rate'.*'fp61'.*'fp16'"):
        InitConfig.from_dict({"lerning_rate": 1e-3, "fp61": True, "seed": 1})


def test_from_dict_rejects_a_non_mapping():
    """A list is not a config: the error says a mapping is expected."""
    with pytest.raises(ConfigError, match="expects a mapping"):
        InitConfig.from_dict(["seed"])


@pytest.mark.parametrize("render", [repr, str, lambda c: str(c.to_dict())])
def test_secrets_are_redacted(render):
    """hub_token never appears in repr, str or to_dict."""
    c = InitConfig(hub_token="hf_secret_canary_42")
    assert "hf_secret_canary_42" not in render(c)
    assert c.hub_token == "hf_secret_canary_42"
    assert c.to_dict(redact_secrets=False)["hub_token"] == "hf_secret_canary_42"


def test_replace_and_diff():
    """replace() returns a changed copy; diff() names exactly the changed fields."""
    a = InitConfig()
    b = a.replace(seed=7, bf16=True)
    assert a.seed == 42
    assert a.diff(b) == {"seed": (42, 7), "bf16": (False, True)}
    with pytest.raises(ConfigError, match="sede"):
        a.replace(sede=1)


def test_derived_views():
    """mixed_precision, report_to_list and fsdp_list read the raw fields."""
    assert InitConfig(bf16=True).mixed_precision == "bf16"
    assert InitConfig(report_to=["tensorboard", "none"]).report_to_list == ["tensorboard"]
    assert InitConfig(fsdp="full_shard auto_wrap").fsdp_list == ["full_shard", "auto_wrap"]
