"""Each script in examples/ runs as a user would run it, and says what it promises."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, capsys) -> str:
    """Run examples/NAME as __main__ in the test's directory; returns what it printed."""
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def _keep_sys_path(monkeypatch):
    """Config files append their folder to sys.path; undo that after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_quickstart(capsys, tmp_path):
    """The quick start reaches Ready and trains one epoch with a falling loss."""
    out = run_example("quickstart.py", capsys)
    assert out.startswith("Ready: TinyMLP on cpu, output in trainer_output")
    losses = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if line.startswith("step ")]
    assert len(losses) == 8  # 256 samples / 32
    assert losses[-1] < losses[0]
    assert (tmp_path / "trainer_output").is_dir()


def test_subscribe_events(capsys, tmp_path):
    """Own progress lines for every phase, a metrics file with the 11 decisions, an isolated failing subscriber."""
    out = run_example("subscribe_events.py", capsys)
    assert sum(line.startswith("-> ") for line in out.splitlines()) == 11
    assert "first event of place: PhaseStarted" in out
    assert "a subscriber failed on InitReady: ZeroDivisionError" in out
    lines = (tmp_path / "trainer_output" / "setup_metrics.jsonl").read_text().splitlines()
    assert len(lines) == 11 and '"event": "SeedSet"' in lines[0]


def test_recover(capsys):
    """The example fails in resolve_model, then resumes from there without redoing seed or accelerate."""
    out = run_example("recover.py", capsys)
    assert "state=Failed failed_phase=resolve_model last_good_state=Accelerated" in out
    assert "cause: FileNotFoundError" in out
    assert "resumed to Ready, running only: resolve_model, resolve_strategy," in out
    assert "seed" not in out.split("running only:", 1)[1].split("\n", 1)[0]


def test_reconfigure(capsys):
    """Changing output_dir re-runs only the last three phases; a rejected change keeps the old config."""
    out = run_example("reconfigure.py", capsys)
    assert "re-running only: prepare_output, init_state, finalize" in out
    assert "model_init was called 1 time(s)" in out
    assert "rejected, still Ready with output_dir=trainer_output/second" in out


def test_yaml_config_example(capsys, tmp_path):
    """examples/config.yaml validates and sets up through the command, with its local factories."""
    from fsm.cli import main

    config = str(EXAMPLES / "config.yaml")
    assert main(["validate", config]) == 0
    assert main(["init", config, "--plain", "--then-train", "3"]) == 0
    out = capsys.readouterr().out
    assert "[AnnounceReady] examples/config.yaml is set up: max_steps=100" in out
    assert "DefaultFlowCallback, AnnounceReady" in out
    assert "collator scaled_collator" in out
    assert "step 3/3" in out
    assert (tmp_path / "trainer_output" / "from_config").is_dir()


def test_audit_logs(capsys):
    """Two set-ups' audit logs verify, read as a timeline, diff to exactly the changed fields, and show tampering."""
    out = run_example("audit_logs.py", capsys)
    assert "verify trainer_output/run_a/trainer_fsm_audit.jsonl: intact: 35 records, 1 run" in out
    assert "first event InitStarted, last InitReady" in out
    assert ": Ready\n" in out
    changed = {line.split(":", 1)[0].strip() for line in out.splitlines() if line.startswith("  config.")}
    assert changed == {"config.output_dir", "config.per_device_train_batch_size", "config.seed"}
    assert "decisions.seed.seed: 1 -> 2" in out
    assert "after editing one record: line 1: its hash does not match its content" in out
