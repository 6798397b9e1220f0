"""Every static rule, one failing and one passing set-up each, checked with `fsm.validate`.

Each case builds a small, real set-up (a TinyMLP, synthetic data, real files under the
test's directory, real environment variables) on top of a valid CPU base, changes what
the rule is about, and checks that the rule reports it (failing) or stays silent
(passing). The last tests check that every rule of the catalogue has its cases and that
docs/rules.md is the catalogue the code generates.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset

from fsm import InitConfig, TrainerCallback, validate
from fsm.demo import SyntheticRegression, TinyMLP
from fsm.guards import RULES, Hardware, rules_for

REPO = Path(__file__).resolve().parents[2]
_DIST_ENV = ("LOCAL_RANK", "WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_OLD_GPU = Hardware(device_type="cuda", fp16=True, bf16=False, tf32=False)  # a V100, described
_AMPERE_GPU = Hardware(device_type="cuda", fp16=True, bf16=True, tf32=True)  # an A100, described


class _Stream(IterableDataset):
    """An iterable dataset without a length."""

    def __iter__(self):
        yield from SyntheticRegression(8)


class _NeedsArgs(TrainerCallback):
    """A callback whose constructor takes an argument."""

    def __init__(self, every: int) -> None:
        self.every = every


class _Backbone(nn.Module):
    """Shaped like a transformers base model: `config`, `base_model_prefix`, forward(**kwargs), no labels."""

    base_model_prefix = "backbone"

    def __init__(self) -> None:
        super().__init__()
        self.config = {"hidden_size": 8}
        self.layer = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, **kwargs: Any) -> dict[str, torch.Tensor]:
        return {"last_hidden_state": self.layer(x)}


class _WithHead(nn.Module):
    """The same model with a head: the base sits under `base_model_prefix` and forward takes labels."""

    base_model_prefix = "backbone"

    def __init__(self) -> None:
        super().__init__()
        self.config = {"hidden_size": 8}
        self.backbone = _Backbone()
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any) -> dict[str, Any]:
        out = self.head(self.backbone(x)["last_hidden_state"]).squeeze(-1)
        return {"loss": None if labels is None else nn.functional.mse_loss(out, labels), "logits": out}


def _meta_mlp() -> nn.Module:
    with torch.device("meta"):
        return TinyMLP()


def _clean_dist_env(mp: pytest.MonkeyPatch) -> None:
    for name in _DIST_ENV:
        mp.delenv(name, raising=False)


def _launched(mp: pytest.MonkeyPatch) -> None:
    _clean_dist_env(mp)
    mp.setenv("WORLD_SIZE", "2")


def _write(path: Path, text: str = "{}") -> str:
    path.write_text(text)
    return str(path)


def _best_steps(eval_steps: float, save_steps: float) -> tuple[dict[str, Any], dict[str, Any]]:
    config = {"load_best_model_at_end": True, "eval_strategy": "steps", "eval_steps": eval_steps}
    return {**config, "save_steps": save_steps}, {"eval_dataset": SyntheticRegression(8)}


def _loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    return nn.functional.mse_loss(outputs["last_hidden_state"].mean(-1), labels)


# (rule id, failing set-up, passing set-up); a set-up is f(tmp_path, monkeypatch, model) -> (config, inputs)
CASES: list[tuple[str, Any, Any]] = [
    # types
    ("types.field_type", lambda p, mp, m: ({"per_device_train_batch_size": "8"}, {}),
     lambda p, mp, m: ({"per_device_train_batch_size": 8}, {})),
    ("types.field_type", lambda p, mp, m: ({"seed": True}, {}), lambda p, mp, m: ({"seed": 1}, {})),
    ("types.field_type", lambda p, mp, m: ({"learning_rate": float("nan")}, {}),
     lambda p, mp, m: ({"learning_rate": 3e-4}, {})),
    ("types.field_type", lambda p, mp, m: ({"report_to": 3}, {}), lambda p, mp, m: ({"report_to": ["none"]}, {})),
    ("types.unknown_input", lambda p, mp, m: ({}, {"train_datset": SyntheticRegression(8)}),
     lambda p, mp, m: ({}, {"train_dataset": SyntheticRegression(8)})),
    # enums and log levels
    ("enums.eval_strategy", lambda p, mp, m: ({"eval_strategy": "step"}, {"eval_dataset": SyntheticRegression(8)}),
     lambda p, mp, m: ({"eval_strategy": "epoch"}, {"eval_dataset": SyntheticRegression(8)})),
    ("enums.save_strategy", lambda p, mp, m: ({"save_strategy": "always"}, {}),
     lambda p, mp, m: ({"save_strategy": "epoch"}, {})),
    ("enums.logging_strategy", lambda p, mp, m: ({"logging_strategy": "often"}, {}),
     lambda p, mp, m: ({"logging_strategy": "epoch"}, {})),
    ("enums.hub_strategy", lambda p, mp, m: ({"hub_strategy": "never"}, {}),
     lambda p, mp, m: ({"hub_strategy": "end"}, {})),
    ("enums.lr_scheduler_type", lambda p, mp, m: ({"lr_scheduler_type": "cosin"}, {}),
     lambda p, mp, m: ({"lr_scheduler_type": "cosine"}, {})),
    ("enums.optim", lambda p, mp, m: ({"optim": "adam"}, {}), lambda p, mp, m: ({"optim": "sgd"}, {})),
    ("logging.log_level", lambda p, mp, m: ({"log_level": "verbose"}, {}),
     lambda p, mp, m: ({"log_level": "info"}, {})),
    ("logging.log_level_replica", lambda p, mp, m: ({"log_level_replica": "loud"}, {}),
     lambda p, mp, m: ({"log_level_replica": "error"}, {})),
    # steps
    ("steps.positive", lambda p, mp, m: ({"logging_steps": 0}, {}), lambda p, mp, m: ({"logging_steps": 10}, {})),
    ("steps.positive", lambda p, mp, m: ({"save_steps": -5}, {}), lambda p, mp, m: ({"save_steps": 0.5}, {})),
    ("steps.integral", lambda p, mp, m: ({"logging_steps": 2.5}, {}), lambda p, mp, m: ({"logging_steps": 0.25}, {})),
    ("steps.integral", lambda p, mp, m: ({"save_steps": 100.5}, {}), lambda p, mp, m: ({"save_steps": 100.0}, {})),
    ("steps.eval_needs_steps",
     lambda p, mp, m: ({"eval_strategy": "steps", "logging_strategy": "epoch", "logging_steps": 0},
                       {"eval_dataset": SyntheticRegression(8)}),
     lambda p, mp, m: ({"eval_strategy": "steps", "logging_strategy": "epoch", "logging_steps": 0, "eval_steps": 50},
                       {"eval_dataset": SyntheticRegression(8)})),
    ("steps.torch_empty_cache_steps", lambda p, mp, m: ({"torch_empty_cache_steps": 0}, {}),
     lambda p, mp, m: ({"torch_empty_cache_steps": 10}, {})),
    ("steps.eval_accumulation_steps", lambda p, mp, m: ({"eval_accumulation_steps": 0}, {}),
     lambda p, mp, m: ({"eval_accumulation_steps": 4}, {})),
    ("steps.training_length", lambda p, mp, m: ({"max_steps": 0, "num_train_epochs": 0}, {}),
     lambda p, mp, m: ({"max_steps": 10, "num_train_epochs": 0}, {})),
    # load_best_model_at_end
    ("best.strategies_match",
     lambda p, mp, m: ({"load_best_model_at_end": True, "eval_strategy": "epoch", "save_strategy": "steps"},
                       {"eval_dataset": SyntheticRegression(8)}),
     lambda p, mp, m: ({"load_best_model_at_end": True, "eval_strategy": "epoch", "save_strategy": "epoch"},
                       {"eval_dataset": SyntheticRegression(8)})),
    ("best.save_multiple_of_eval",
     lambda p, mp, m: _best_steps(100, 250),
     lambda p, mp, m: _best_steps(100, 300)),
    ("best.save_multiple_of_eval",
     lambda p, mp, m: _best_steps(0.1, 0.25),
     lambda p, mp, m: _best_steps(0.1, 0.3)),
    ("best.save_multiple_of_eval",
     lambda p, mp, m: _best_steps(100, 0.5),
     lambda p, mp, m: _best_steps(0.1, 0.5)),
    ("best.needs_metric",
     lambda p, mp, m: ({"save_strategy": "best", "eval_strategy": "epoch"}, {"eval_dataset": SyntheticRegression(8)}),
     lambda p, mp, m: ({"save_strategy": "best", "eval_strategy": "epoch", "metric_for_best_model": "loss"},
                       {"eval_dataset": SyntheticRegression(8)})),
    ("best.needs_evaluation",
     lambda p, mp, m: ({"load_best_model_at_end": True, "eval_strategy": "no", "save_strategy": "no"}, {}),
     lambda p, mp, m: ({"load_best_model_at_end": True, "eval_strategy": "epoch", "save_strategy": "epoch"},
                       {"eval_dataset": SyntheticRegression(8)})),
    # precision
    ("precision.fp16_with_bf16", lambda p, mp, m: ({"fp16": True, "bf16": True}, {}),
     lambda p, mp, m: ({"bf16": True}, {})),
    ("precision.full_eval_exclusive", lambda p, mp, m: ({"fp16_full_eval": True, "bf16_full_eval": True}, {}),
     lambda p, mp, m: ({"bf16_full_eval": True}, {})),
    ("precision.bf16_unsupported", lambda p, mp, m: ({"bf16": True}, {"hardware": _OLD_GPU}),
     lambda p, mp, m: ({"bf16": True}, {})),
    ("precision.bf16_unsupported", lambda p, mp, m: ({"bf16_full_eval": True}, {"hardware": _OLD_GPU}),
     lambda p, mp, m: ({"bf16_full_eval": True}, {"hardware": _AMPERE_GPU})),
    ("precision.fp16_unsupported",
     lambda p, mp, m: (mp.setenv("ACCELERATE_TORCH_DEVICE", "meta"), ({"fp16": True}, {}))[1],
     lambda p, mp, m: ({"fp16": True}, {})),
    ("precision.tf32_unsupported", lambda p, mp, m: ({"tf32": True}, {}),
     lambda p, mp, m: ({"tf32": True}, {"hardware": _AMPERE_GPU})),
    # schedulers
    ("scheduler.plateau_needs_eval", lambda p, mp, m: ({"lr_scheduler_type": "reduce_lr_on_plateau"}, {}),
     lambda p, mp, m: ({"lr_scheduler_type": "reduce_lr_on_plateau", "eval_strategy": "epoch"},
                       {"eval_dataset": SyntheticRegression(8)})),
    ("scheduler.greedy_needs_eval", lambda p, mp, m: ({"lr_scheduler_type": "greedy"}, {}),
     lambda p, mp, m: ({"lr_scheduler_type": "greedy", "eval_strategy": "epoch"},
                       {"eval_dataset": SyntheticRegression(8)})),
    ("scheduler.warmup_range", lambda p, mp, m: ({"warmup_steps": -1}, {}),
     lambda p, mp, m: ({"warmup_steps": 0.1}, {})),
    ("scheduler.warmup_range", lambda p, mp, m: ({"warmup_steps": 10.5}, {}),
     lambda p, mp, m: ({"warmup_steps": 10}, {})),
    ("scheduler.min_lr_kwargs", lambda p, mp, m: ({"lr_scheduler_type": "cosine_with_min_lr"}, {}),
     lambda p, mp, m: ({"lr_scheduler_type": "cosine_with_min_lr", "lr_scheduler_kwargs": {"min_lr_rate": 0.1}}, {})),
    # dataloader
    ("dataloader.workers_non_negative", lambda p, mp, m: ({"dataloader_num_workers": -1}, {}),
     lambda p, mp, m: ({"dataloader_num_workers": 2}, {})),
    ("dataloader.prefetch_needs_workers", lambda p, mp, m: ({"dataloader_prefetch_factor": 2}, {}),
     lambda p, mp, m: ({"dataloader_prefetch_factor": 2, "dataloader_num_workers": 2}, {})),
    ("dataloader.prefetch_factor_positive",
     lambda p, mp, m: ({"dataloader_prefetch_factor": 0, "dataloader_num_workers": 2}, {}),
     lambda p, mp, m: ({"dataloader_prefetch_factor": 1, "dataloader_num_workers": 2}, {})),
    ("dataloader.persistent_workers_need_workers", lambda p, mp, m: ({"dataloader_persistent_workers": True}, {}),
     lambda p, mp, m: ({"dataloader_persistent_workers": True, "dataloader_num_workers": 1}, {})),
    ("dataloader.batch_size_positive", lambda p, mp, m: ({"per_device_eval_batch_size": 0}, {}),
     lambda p, mp, m: ({"per_device_eval_batch_size": 1}, {})),
    ("dataloader.gradient_accumulation_positive", lambda p, mp, m: ({"gradient_accumulation_steps": 0}, {}),
     lambda p, mp, m: ({"gradient_accumulation_steps": 4}, {})),
    # seeds
    ("seed.range", lambda p, mp, m: ({"seed": -1}, {}), lambda p, mp, m: ({"seed": 0}, {})),
    ("seed.range", lambda p, mp, m: ({"data_seed": 2**32}, {}), lambda p, mp, m: ({"data_seed": 2**32 - 1}, {})),
    # model
    ("model.exactly_one", lambda p, mp, m: ({}, {"model": None}), lambda p, mp, m: ({}, {})),
    ("model.exactly_one", lambda p, mp, m: ({}, {"model_init": TinyMLP}), lambda p, mp, m: ({}, {})),
    ("model.init_arity", lambda p, mp, m: ({}, {"model": None, "model_init": lambda a, b: TinyMLP()}),
     lambda p, mp, m: ({}, {"model": None, "model_init": lambda trial: TinyMLP()})),
    ("model.not_a_module", lambda p, mp, m: ({}, {"model": "gpt2"}), lambda p, mp, m: ({}, {})),
    ("model.cannot_compute_loss", lambda p, mp, m: ({}, {"model": nn.Linear(8, 1)}),
     lambda p, mp, m: ({}, {"model": nn.Linear(8, 1), "compute_loss_func": _loss})),
    ("model.cannot_compute_loss", lambda p, mp, m: ({}, {"model": _Backbone()}),
     lambda p, mp, m: ({}, {"model": _WithHead()})),
    ("model.cannot_compute_loss", lambda p, mp, m: ({}, {"model": _Backbone()}),
     lambda p, mp, m: ({"label_smoothing_factor": 0.1}, {"model": _Backbone()})),
    ("model.meta_parameters", lambda p, mp, m: ({}, {"model": _meta_mlp()}), lambda p, mp, m: ({}, {})),
    ("model.label_smoothing_range", lambda p, mp, m: ({"label_smoothing_factor": 1.5}, {}),
     lambda p, mp, m: ({"label_smoothing_factor": 0.1}, {})),
    # data
    ("data.eval_without_dataset", lambda p, mp, m: ({"eval_strategy": "epoch"}, {}),
     lambda p, mp, m: ({"eval_strategy": "epoch"}, {"eval_dataset": SyntheticRegression(8)})),
    ("data.unsized_needs_max_steps", lambda p, mp, m: ({}, {"train_dataset": _Stream()}),
     lambda p, mp, m: ({"max_steps": 10}, {"train_dataset": _Stream()})),
    ("data.collator_not_callable", lambda p, mp, m: ({}, {"data_collator": {"pad": True}}),
     lambda p, mp, m: ({}, {"data_collator": torch.utils.data.default_collate})),
    ("data.helpers_not_callable", lambda p, mp, m: ({}, {"compute_metrics": "accuracy"}),
     lambda p, mp, m: ({}, {"compute_metrics": lambda pred: {"accuracy": 1.0}})),
    # optimizers
    ("optimizer.pair", lambda p, mp, m: ({}, {"optimizers": ("adamw", None)}),
     lambda p, mp, m: ({}, {"optimizers": (torch.optim.AdamW(m.parameters()), None)})),
    ("optimizer.pair", lambda p, mp, m: ({}, {"optimizers": [None, None]}),
     lambda p, mp, m: ({}, {"optimizers": (None, None)})),
    ("optimizer.with_model_init",
     lambda p, mp, m: ({}, {"model": None, "model_init": TinyMLP,
                            "optimizers": (torch.optim.SGD(TinyMLP().parameters(), lr=0.1), None)}),
     lambda p, mp, m: ({}, {"model": None, "model_init": TinyMLP})),
    ("optimizer.with_cls_and_kwargs",
     lambda p, mp, m: ({}, {"optimizers": (torch.optim.SGD(m.parameters(), lr=0.1), None),
                            "optimizer_cls_and_kwargs": (torch.optim.AdamW, {"lr": 1e-3})}),
     lambda p, mp, m: ({}, {"optimizer_cls_and_kwargs": (torch.optim.AdamW, {"lr": 1e-3})})),
    ("optimizer.before_fsdp",
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard"},
                                       {"optimizers": (torch.optim.SGD(m.parameters(), lr=0.1), None)}))[1],
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard"}, {}))[1]),
    ("optimizer.params_not_of_model",
     lambda p, mp, m: ({}, {"optimizers": (torch.optim.SGD(TinyMLP().parameters(), lr=0.1), None)}),
     lambda p, mp, m: ({}, {"optimizers": (torch.optim.SGD(m.parameters(), lr=0.1), None)})),
    ("optimizer.scheduler_without_optimizer",
     lambda p, mp, m: ({}, {"optimizers": (None, torch.optim.lr_scheduler.LambdaLR(
         torch.optim.SGD(m.parameters(), lr=0.1), lambda step: 1.0))}),
     lambda p, mp, m: ({}, {"optimizers": _opt_and_scheduler(m)})),
    ("optimizer.scheduler_of_other_optimizer",
     lambda p, mp, m: ({}, {"optimizers": (torch.optim.SGD(m.parameters(), lr=0.1), _opt_and_scheduler(m)[1])}),
     lambda p, mp, m: ({}, {"optimizers": _opt_and_scheduler(m)})),
    ("optimizer.cls_and_kwargs_shape", lambda p, mp, m: ({}, {"optimizer_cls_and_kwargs": (torch.optim.AdamW, 0.1)}),
     lambda p, mp, m: ({}, {"optimizer_cls_and_kwargs": (torch.optim.AdamW, {"lr": 0.1})})),
    ("optimizer.hyperparameters", lambda p, mp, m: ({"learning_rate": -1e-3}, {}),
     lambda p, mp, m: ({"learning_rate": 1e-3}, {})),
    ("optimizer.hyperparameters", lambda p, mp, m: ({"adam_beta2": 1.0}, {}),
     lambda p, mp, m: ({"adam_beta2": 0.98}, {})),
    # distributed
    ("distributed.fsdp_with_deepspeed",
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard", "deepspeed": {"zero_optimization": {}}}, {}))[1],
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard"}, {}))[1]),
    ("distributed.fsdp_not_distributed", lambda p, mp, m: (_clean_dist_env(mp), ({"fsdp": "full_shard"}, {}))[1],
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard"}, {}))[1]),
    ("distributed.fsdp_not_distributed", lambda p, mp, m: (_clean_dist_env(mp), ({"fsdp": ["full_shard"]}, {}))[1],
     lambda p, mp, m: (_clean_dist_env(mp), mp.setenv("LOCAL_RANK", "0"), ({"fsdp": ["full_shard"]}, {}))[2]),
    ("distributed.fsdp_on_cpu", lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard"}, {}))[1],
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard", "use_cpu": False}, {}))[1]),
    ("distributed.fsdp_unknown_option", lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard turbo"}, {}))[1],
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard auto_wrap"}, {}))[1]),
    ("distributed.fsdp_config_unknown_key",
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard",
                                        "fsdp_config": {"transformer_layer_cls_to_wrap": ["Block"]}}, {}))[1],
     lambda p, mp, m: (_launched(mp), ({"fsdp": "full_shard",
                                        "fsdp_config": {"transformer_cls_names_to_wrap": ["Block"]}}, {}))[1]),
    ("distributed.deepspeed_not_installed", lambda p, mp, m: ({"deepspeed": {"zero_optimization": {"stage": 2}}}, {}),
     lambda p, mp, m: ({"deepspeed": None}, {})),
    ("distributed.deepspeed_config_missing", lambda p, mp, m: ({"deepspeed": str(p / "ds.json")}, {}),
     lambda p, mp, m: ({"deepspeed": _write(p / "ds.json")}, {})),
    ("distributed.ddp_backend", lambda p, mp, m: ({"ddp_backend": "nccl2"}, {}),
     lambda p, mp, m: ({"ddp_backend": "gloo"}, {})),
    ("distributed.ddp_timeout_positive", lambda p, mp, m: ({"ddp_timeout": 0}, {}),
     lambda p, mp, m: ({"ddp_timeout": 60}, {})),
    # callbacks and reporting
    ("callbacks.report_to_unknown", lambda p, mp, m: ({"report_to": "wandb"}, {}),
     lambda p, mp, m: ({"report_to": "none"}, {})),
    ("callbacks.report_to_unknown", lambda p, mp, m: ({"report_to": ["tensorbord"]}, {}),
     lambda p, mp, m: ({"report_to": ["all"]}, {})),
    ("callbacks.report_to_not_installed", lambda p, mp, m: ({"report_to": "tensorboard"}, {}),
     lambda p, mp, m: ({"report_to": "none"}, {})),
    ("callbacks.report_to_none_mixed", lambda p, mp, m: ({"report_to": ["none", "tensorboard"]}, {}),
     lambda p, mp, m: ({"report_to": ["none"]}, {})),
    ("callbacks.not_a_callback", lambda p, mp, m: ({}, {"callbacks": [print]}),
     lambda p, mp, m: ({}, {"callbacks": [TrainerCallback, TrainerCallback()]})),
    ("callbacks.not_a_callback", lambda p, mp, m: ({}, {"callbacks": ["tensorboard"]}),
     lambda p, mp, m: ({}, {"callbacks": []})),
    ("callbacks.class_needs_arguments", lambda p, mp, m: ({}, {"callbacks": [_NeedsArgs]}),
     lambda p, mp, m: ({}, {"callbacks": [_NeedsArgs(10)]})),
    # output
    ("output.not_a_directory", lambda p, mp, m: ({"output_dir": _write(p / "out")}, {}),
     lambda p, mp, m: ((p / "out").mkdir(), ({"output_dir": str(p / "out")}, {}))[1]),
    ("output.not_a_directory", lambda p, mp, m: ({"output_dir": str(Path(_write(p / "runs")) / "out")}, {}),
     lambda p, mp, m: ({"output_dir": str(p / "runs" / "out")}, {})),
    ("output.hub_model_id_underivable", lambda p, mp, m: ({"push_to_hub": True, "output_dir": str(p / "my model")}, {}),
     lambda p, mp, m: ({"push_to_hub": True, "output_dir": str(p / "my model"), "hub_model_id": "me/my-model"}, {})),
    ("output.hub_model_id_invalid", lambda p, mp, m: ({"push_to_hub": True, "hub_model_id": "me/my/model"}, {}),
     lambda p, mp, m: ({"push_to_hub": True, "hub_model_id": "me/my-model"}, {})),
]  # fmt: skip

_NEEDS_ABSENT = {"distributed.deepspeed_not_installed": "deepspeed", "callbacks.report_to_not_installed": "tensorboard"}


def _opt_and_scheduler(model: nn.Module) -> tuple[Any, Any]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _run_case(make: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    model = TinyMLP()
    config, inputs = make(tmp_path, monkeypatch, model)
    base = {"output_dir": str(tmp_path / "out"), "use_cpu": True}
    given = {"model": model, "train_dataset": SyntheticRegression(16), **inputs}
    return validate(InitConfig(**{**base, **config}), **given)


def _ids(cases: list[tuple[str, Any, Any]]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for rule_id, _, _ in cases:
        seen[rule_id] = seen.get(rule_id, 0) + 1
        out.append(f"{rule_id}-{seen[rule_id]}")
    return out


def _skip_if_present(rule_id: str) -> None:
    package = _NEEDS_ABSENT.get(rule_id)
    if package and importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here; the failing case needs a machine without it")


def test_base_setup_is_valid(tmp_path, monkeypatch):
    """The base every case starts from passes every static rule."""
    assert _run_case(lambda p, mp, m: ({}, {}), tmp_path, monkeypatch) == []


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=_ids(CASES))
def test_rule_rejects_the_failing_case(rule_id, bad, good, tmp_path, monkeypatch):
    """The rule reports the bad set-up, names fields, and says what to do instead."""
    _skip_if_present(rule_id)
    found = [v for v in _run_case(bad, tmp_path, monkeypatch) if v.rule == rule_id]
    assert found, f"{rule_id} did not report its failing case"
    for violation in found:
        assert violation.fields, violation
        assert violation.hint and violation.message, violation


@pytest.mark.parametrize(("rule_id", "bad", "good"), CASES, ids=_ids(CASES))
def test_rule_accepts_the_passing_case(rule_id, bad, good, tmp_path, monkeypatch):
    """The corrected set-up passes the rule."""
    found = [v for v in _run_case(good, tmp_path, monkeypatch) if v.rule == rule_id]
    assert found == []


def test_every_static_rule_has_cases():
    """No static rule of the catalogue is left without a failing and a passing case."""
    covered = {rule_id for rule_id, _, _ in CASES}
    assert {r.id for r in rules_for(None)} - covered == set()
    assert covered <= set(RULES)


def test_docs_rules_md_is_generated_from_the_code():
    """docs/rules.md is exactly what `python -m fsm.rules` prints (regenerate it after changing a rule)."""
    out = subprocess.run(
        [sys.executable, "-m", "fsm.rules"], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert (REPO / "docs" / "rules.md").read_text() == out, "run: python -m fsm.rules > docs/rules.md"
    ours = [r.id for r in RULES.values() if r.check.__module__.startswith("fsm.rules.")]
    assert len(ours) >= 35
    assert all(f"| `{rule_id}` |" in out for rule_id in ours)
