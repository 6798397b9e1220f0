"""3. Cold start: a new Python process, from its start to Ready, vs transformers' Trainer.

Each subject is a fresh ``python -c`` process that imports what it needs, defines the
same tiny MLP and dataset with plain torch, sets up, and exits with ``os._exit(0)`` as
soon as the set-up is done (so interpreter teardown is not counted). The parent times
each process from spawn to exit; the subjects alternate. Two floors are timed the same
way, for context: an empty interpreter and ``import torch, accelerate``, which both
libraries need.

Target: trainer-fsm at most half of the Trainer's time (ratio <= 0.5). The import
profile (``python -X importtime``) of the trainer-fsm process shows where it goes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._core import Row, Section, Settings, median

__all__ = ["SCRIPTS", "run"]

_PRELUDE = """
import os, sys
import torch
from torch import nn

class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    def forward(self, x, labels=None):
        out = self.net(x).squeeze(-1)
        return {"loss": nn.functional.mse_loss(out, labels) if labels is not None else None, "logits": out}

class Data(torch.utils.data.Dataset):
    def __init__(self):
        self.x = torch.randn(256, 8)
        self.y = self.x.sum(-1)
    def __len__(self):
        return 256
    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}

OUT = sys.argv[1]
"""

SCRIPTS: dict[str, str] = {
    "python": "import os; os._exit(0)",
    "torch_accelerate": "import os, torch, accelerate; os._exit(0)",
    "fsm": _PRELUDE
    + """
from fsm import InitConfig, TrainerInit
TrainerInit(InitConfig(output_dir=OUT, use_cpu=True, report_to="none"), model=TinyMLP(), train_dataset=Data()).run()
os._exit(0)
""",
    "trainer": _PRELUDE
    + """
from transformers import Trainer, TrainingArguments
Trainer(model=TinyMLP(), args=TrainingArguments(output_dir=OUT, use_cpu=True, report_to="none"), train_dataset=Data())
os._exit(0)
""",
}
"""The process bodies, by subject; each takes the output directory as its argument."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"})
    return env


def _time_process(code: str, output_dir: str, *, importtime: bool = False) -> tuple[float, str]:
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code, output_dir]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), check=False, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        msg = f"cold-start subject failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return elapsed, done.stderr


def import_profile(stderr: str, limit: int = 8) -> list[tuple[str, float]]:
    """Top-level packages by cumulative import time (seconds), from ``-X importtime`` output."""
    totals: dict[str, float] = defaultdict(float)
    pattern = re.compile(r"^import time:\s+\d+\s+\|\s+(\d+)\s+\|(\s*)(\S+)")
    for line in stderr.splitlines():
        match = pattern.match(line)
        if match and len(match.group(2)) == 1:  # a top-level import (not nested)
            totals[match.group(3).split(".")[0]] += int(match.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:limit]


def run(settings: Settings | None = None) -> Section:
    """Spawn each subject repeatedly, alternating, and compare median wall times."""
    settings = settings or Settings()
    section = Section("3", "Cold start: new process to Ready vs transformers' Trainer")
    skipped = settings.transformers_anchor()
    names = ["python", "torch_accelerate", "fsm"] + (["trainer"] if skipped is None else [])
    reps = settings.reps(5, 1)
    times: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        out = str(Path(tmp) / "out")
        if not settings.quick:  # warm the file cache for every subject
            for name in names:
                _time_process(SCRIPTS[name], out)
        for _ in range(reps):
            for name in names:
                if settings.quick and name == "fsm":
                    continue  # quick mode times the import-profiled run below instead
                times[name].append(_time_process(SCRIPTS[name], out)[0])
        elapsed, importtime = _time_process(SCRIPTS["fsm"], out, importtime=True)
        if settings.quick:
            times["fsm"].append(elapsed)
    medians = {n: median(t) for n, t in times.items()}
    section.raw = {"reps": reps, "median_s": medians, "fsm_imports_s": dict(import_profile(importtime))}
    if "trainer" in medians:
        ratio = medians["fsm"] / medians["trainer"]
        row = Row(
            "cold.fsm_vs_trainer",
            "cold start to Ready, trainer-fsm / Trainer",
            ratio,
            "x",
            "<= 0.50x",
            ratio <= 0.5,
            f"{medians['fsm']:.2f} s vs {medians['trainer']:.2f} s",
        )
    else:
        what = "cold start to Ready, trainer-fsm / Trainer"
        row = Row("cold.fsm_vs_trainer", what, None, "x", "<= 0.50x", note=skipped or "")
    section.rows.append(row)
    floor = medians["torch_accelerate"]
    beyond = medians["fsm"] - floor
    section.rows.append(
        Row(
            "cold.fsm_beyond_floor",
            "cold start: trainer-fsm beyond `import torch, accelerate`",
            beyond / floor,
            "x",
            "",
            None,
            f"+{beyond:.2f} s over the {floor:.2f} s floor",
        )
    )
    section.details.append(f"Medians over {reps} alternating spawns (wall time from spawn to exit):")
    section.details.append("")
    labels = {
        "python": "`python -c pass` (interpreter only)",
        "torch_accelerate": "`import torch, accelerate` (the floor both libraries share)",
        "fsm": "trainer-fsm: import, set up the tiny MLP, Ready",
        "trainer": "transformers: import, `TrainingArguments` + `Trainer(...)`",
    }
    section.details += [f"- {labels[n]}: {m:.3f} s" for n, m in medians.items()]
    section.details.append("")
    section.details.append("Cumulative import time of the top-level packages in the trainer-fsm process:")
    section.details.append("")
    section.details += [f"- `{name}`: {seconds:.3f} s" for name, seconds in section.raw["fsm_imports_s"].items()]
    return section


def main(argv: list[str] | None = None) -> Any:  # pragma: no cover - manual use
    for line in run(Settings(quick="--quick" in (argv or sys.argv))).details:
        print(line)


if __name__ == "__main__":  # pragma: no cover
    main()
