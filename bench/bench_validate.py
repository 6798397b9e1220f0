"""5b. Guards: the cost of `fsm.validate()` on realistic set-ups.

Every static rule (70-odd) runs on each call. Five set-ups: the default CPU config with
a TinyMLP; an evaluating, best-model-keeping config; a small transformer LM with its own
optimizer and scheduler (the optimizer rule walks the model's parameters); bf16 (the
hardware is detected once per process, then cached); and a config with five problems,
one of them a wrong type. Each is timed over batches of calls after a warm-up; the
figure is the median microseconds per call. Target: well under a millisecond.

    python bench/bench_validate.py
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TARGET_US", "run", "setups"]

TARGET_US = 1000.0
"""validate() must stay under this many microseconds per call (the issue: well under a millisecond)."""


def setups(root: Path) -> dict[str, tuple[Any, dict[str, Any]]]:
    """``{name: (config, inputs)}``: the set-ups timed, built with real torch objects."""
    import torch

    from fsm import InitConfig
    from fsm.demo import SyntheticRegression, SyntheticTokens, TinyMLP, TinyTransformerLM

    out = str(root / "out")
    mlp = {"model": TinyMLP(), "train_dataset": SyntheticRegression(64)}
    lm_model = TinyTransformerLM()
    optimizer = torch.optim.AdamW(lm_model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    lm = {"model": lm_model, "train_dataset": SyntheticTokens(64), "optimizers": (optimizer, scheduler)}
    evaluating = {**mlp, "eval_dataset": SyntheticRegression(16), "compute_metrics": lambda p: {}}
    return {
        "default": (InitConfig(output_dir=out, use_cpu=True), mlp),
        "eval_best_model": (
            InitConfig(
                output_dir=out,
                use_cpu=True,
                eval_strategy="steps",
                eval_steps=50,
                save_steps=200,
                load_best_model_at_end=True,
                metric_for_best_model="loss",
                warmup_steps=0.1,
                lr_scheduler_type="cosine",
                report_to=["none"],
                dataloader_num_workers=2,
                dataloader_prefetch_factor=2,
            ),
            evaluating,
        ),
        "lm_with_optimizer": (InitConfig(output_dir=out, use_cpu=True, label_names=["labels"]), lm),
        "bf16": (InitConfig(output_dir=out, use_cpu=True, bf16=True), mlp),
        "five_problems": (
            InitConfig(
                output_dir=out,
                fp16=True,
                bf16=True,
                logging_steps=0,
                report_to="wandb",
                per_device_train_batch_size="8",
                eval_strategy="epoch",
            ),
            mlp,
        ),
    }


def _time_per_call(call: Callable[[], Any], calls: int, batches: int) -> float:
    """Median over `batches` of the microseconds per call of `call`."""
    for _ in range(max(10, calls // 10)):
        call()
    per_call = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(batches):
            started = time.perf_counter()
            for _ in range(calls):
                call()
            per_call.append((time.perf_counter() - started) / calls * 1e6)
    finally:
        gc.enable()
    return statistics.median(per_call)


def run(quick: bool = False) -> dict[str, Any]:
    """Median microseconds per `validate()` call for each set-up, with the target and whether it is met."""
    import tempfile

    from fsm import validate
    from fsm.guards import RULES, rules_for

    calls, batches = (50, 3) if quick else (300, 9)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, inputs) in setups(Path(tmp)).items():
            violations = len(validate(config, **inputs))
            us = _time_per_call(lambda c=config, i=inputs: validate(c, **i), calls, batches)
            result[name] = {
                "value": round(us, 1),
                "unit": "us",
                "target": f"< {TARGET_US:.0f} us",
                "met": us < TARGET_US,
                "what": f"validate(): {name.replace('_', ' ')} ({violations} violations)",
            }
    result["static_rules"] = len(list(rules_for(None)))
    result["rules"] = len(RULES)
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for key, value in run(quick="--quick" in sys.argv).items():
        if isinstance(value, dict):
            mark = "ok" if value["met"] else "OVER TARGET"
            print(f"{value['what']:<55} {value['value']:>8.1f} us   {value['target']}  {mark}")
        else:
            print(f"{key:<55} {value:>8}")
