"""6. Peak memory of a set-up with a model of a few hundred MB, vs the model's own size.

Each subject runs in a fresh process: it imports everything first, then (for a given
model) builds the model, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``
with ``5``; where that is not possible the counter is left and the growth of
``ru_maxrss`` is used), runs the set-up, and reports the peak resident memory reached
during it, above the resident memory before it. A second copy of the parameters would
show as about the model's size.

* ``fsm_model``: ``TrainerInit(..., model=model).run()``; target: the set-up adds
  under a quarter of the model's size (no extra copy).
* ``fsm_model_init``: the model is built inside the set-up by `model_init`; target:
  the peak above the start is at most 1.25x the model (the model itself, no copy).
* ``trainer_model``: ``Trainer(model=model, ...)``, for comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._core import Row, Section, Settings

__all__ = ["SCRIPT", "run"]

SCRIPT = r"""
import gc, json, os, resource, sys
import torch
from torch import nn
import accelerate

subject, width, depth, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if subject.startswith("fsm"):
    from fsm import InitConfig, TrainerInit
else:
    from transformers import Trainer, TrainingArguments

class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": nn.functional.mse_loss(out, labels) if labels is not None else None, "logits": out}

def build():
    return Stack()

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

model = None if subject == "fsm_model_init" else build()
gc.collect()
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    method = "VmHWM after clear_refs"
except OSError:
    method = "ru_maxrss growth"
before_rss, before_peak = rss(), hwm()
if subject == "fsm_model":
    setup = TrainerInit(InitConfig(output_dir=out, use_cpu=True), model=model, log=False).run()
elif subject == "fsm_model_init":
    setup = TrainerInit(InitConfig(output_dir=out, use_cpu=True), model_init=build, log=False).run()
    model = setup.model
else:
    setup = Trainer(model=model, args=TrainingArguments(output_dir=out, use_cpu=True, report_to="none"))
after_peak = hwm()
params = sum(p.numel() * p.element_size() for p in model.parameters())
peak_added = after_peak - before_rss if method.startswith("VmHWM") else max(0, after_peak - before_peak)
print(json.dumps({"model_bytes": params, "before_rss": before_rss, "after_peak": after_peak,
                  "peak_added": peak_added, "after_rss": rss(), "method": method}))
sys.stdout.flush()
os._exit(0)
"""
"""The measuring process; argv: subject, width, depth, output directory."""

_FULL = (2048, 20)  # 84 M parameters, 320 MB
_QUICK = (512, 8)  # 2 M parameters, 8 MB


def _measure(subject: str, width: int, depth: int, output_dir: str) -> dict[str, Any]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore")
    argv = [sys.executable, "-c", SCRIPT, subject, str(width), str(depth), output_dir]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=300)
    if done.returncode != 0:
        msg = f"memory subject {subject} failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(settings: Settings | None = None) -> Section:
    """Peak memory added by each set-up, as a fraction of the model's size."""
    settings = settings or Settings()
    section = Section("6", "Peak memory of a set-up vs the model's own size")
    width, depth = _QUICK if settings.quick else _FULL
    skipped = settings.transformers_anchor()
    subjects = ["fsm_model", "fsm_model_init"] + (["trainer_model"] if skipped is None else [])
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        for subject in subjects:
            results[subject] = _measure(subject, width, depth, str(Path(tmp) / "out"))
    section.raw = results
    mb = 2**20
    model_size = results["fsm_model"]["model_bytes"]
    given = results["fsm_model"]["peak_added"] / model_size
    section.rows.append(
        Row(
            "memory.fsm_given_model",
            f"peak added by a set-up with a given {model_size / mb:.0f} MB model / model size",
            given,
            "x",
            "< 0.25x (no copy)",
            given < 0.25,
            f"+{results['fsm_model']['peak_added'] / mb:.1f} MB",
        )
    )
    built = results["fsm_model_init"]["peak_added"] / model_size
    section.rows.append(
        Row(
            "memory.fsm_model_init",
            "peak added by a set-up whose model_init builds the model / model size",
            built,
            "x",
            "<= 1.25x (the model, no copy)",
            built <= 1.25,
            f"+{results['fsm_model_init']['peak_added'] / mb:.1f} MB",
        )
    )
    trainer_what = "for comparison: peak added by Trainer(model=...) / model size"
    if "trainer_model" in results:
        trainer = results["trainer_model"]["peak_added"] / model_size
        note = f"+{results['trainer_model']['peak_added'] / mb:.1f} MB"
        section.rows.append(Row("memory.trainer_given_model", trainer_what, trainer, "x", note=note))
    else:
        section.rows.append(Row("memory.trainer_given_model", trainer_what, None, "x", note=skipped or ""))
    section.details.append(
        f"Model: {depth} Linear({width}, {width}) layers, {model_size / mb:.1f} MB of parameters; "
        f"one fresh process per subject; peak measured as {results['fsm_model']['method']}."
    )
    section.details.append("")
    section.details.append("| subject | RSS before set-up | peak during set-up | peak added |")
    section.details.append("|---|---:|---:|---:|")
    for subject, r in results.items():
        section.details.append(
            f"| `{subject}` | {r['before_rss'] / mb:.1f} MB | {r['after_peak'] / mb:.1f} MB | "
            f"{r['peak_added'] / mb:.1f} MB |"
        )
    return section
