"""`trainer-fsm init`: the default, a YAML config, a rejected config, a failing phase,
JSON lines, --then-train, the live display in a pseudo-terminal, and --debug."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from fsm import PHASES, validate
from fsm.cli._config_file import load_config

YAML = """
output_dir: out/yaml
seed: 3
learning_rate: 1e-2
per_device_train_batch_size: 16
model_init:
  factory: fsm.demo:TinyMLP
  kwargs: {in_features: 4, hidden: 16}
train_dataset:
  factory: fsm.demo:SyntheticRegression
  kwargs: {n: 64, in_features: 4}
"""

FAILING_FACTORY = """
def make_model(size):
    raise RuntimeError(f"no memory left for a model of size {size}")
"""

REJECTED = """
output_dir: out/rejected
fp16: true
bf16: true
gradient_accumulation_steps: 0
model: fsm.demo:TinyMLP
model_init: fsm.demo:TinyMLP
train_dataset: fsm.demo:SyntheticRegression
"""


def test_default_runs_to_ready_and_trains_as_a_real_process(command, tmp_path):
    """`trainer-fsm init --then-train 30` with no config: exit 0, every phase, the summary, a falling loss."""
    done = command("init", "--then-train", "30")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for spec in PHASES:
        assert re.search(rf"\] {spec.trigger}\s+-> {spec.dest}\b", out), spec.trigger
    assert "set-up summary" in out
    assert re.search(r"Ready in \d+\.\d+ s \(run [0-9a-f]{32}\)\. Output directory: trainer_output", out)
    assert (tmp_path / "trainer_output").is_dir()
    losses = [float(x) for x in re.findall(r"step +\d+/30 +loss (\d+\.\d+)", out)]
    assert len(losses) == 30
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])
    assert "Traceback" not in done.stderr


def test_yaml_config_builds_its_factories_with_their_kwargs(cli, write, tmp_path):
    """A YAML config's InitConfig fields and factory kwargs reach the set-up."""
    path = write("setup.yaml", YAML)
    code, out, err = cli("init", str(path), "--plain")
    assert code == 0, err
    assert "seed 3" in out
    assert "TinyMLP from model_init: 97 parameters" in out  # 4*16 + 16 + 16 + 1
    assert "train SyntheticRegression (64)" in out
    assert "step 0 of 12, batch 16" in out  # 3 epochs of 4 batches
    assert (tmp_path / "out" / "yaml").is_dir()


def test_output_dir_option_overrides_the_config(cli, tmp_path):
    """--output-dir replaces the config's output_dir."""
    code, out, _ = cli("init", "--output-dir", "elsewhere")
    assert code == 0
    assert (tmp_path / "elsewhere").is_dir()
    assert not (tmp_path / "trainer_output").exists()
    assert "Output directory: elsewhere" in out


def test_rejected_config_lists_every_violation_and_creates_nothing(cli, write, files):
    """A config the guards reject: exit 2, each violation's rule id and hint, no file or folder created."""
    path = write("rejected.yaml", REJECTED)
    file = load_config(path)
    expected = validate(file.config, **file.build_inputs())
    assert len(expected) >= 2
    before = files()
    code, _out, err = cli("init", str(path))
    assert code == 2
    for violation in expected:
        assert f"[{violation.rule}]" in err
        assert violation.hint in err
    assert f"{len(expected)} problems" in err
    assert "Traceback" not in err
    assert files() == before


def test_failing_phase_exits_1_naming_the_phase_and_the_cause(cli, write, tmp_path):
    """A model_init factory that raises fails `resolve_model`: exit 1, phase, cause, and how to go on."""
    write("exploding_factories.py", FAILING_FACTORY)
    path = write(
        "failing.yaml",
        "output_dir: out/failing\n"
        "model_init: {factory: exploding_factories:make_model, kwargs: {size: 7}}\n"
        "train_dataset: fsm.demo:SyntheticRegression\n",
    )
    code, out, err = cli("init", str(path))
    assert code == 1
    assert "phase 'resolve_model' failed on attempt 1: RuntimeError: no memory left for a model of size 7" in err
    assert "last good state is Accelerated" in err
    assert "retry()" in err and "resume()" in err
    assert "trainer-fsm graph --highlight Accelerated" in err
    assert re.search(r"resolve_model .* FAILED: RuntimeError", out)
    assert out.count("not run") == 8
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "failing").exists()


def test_json_streams_every_event_as_a_parsable_redacted_line(cli, write):
    """--json prints only JSON lines, one per event, InitStarted to InitReady, with secrets redacted."""
    path = write("secret.yaml", YAML + "hub_token: hf_canary_do_not_print_1234\n")
    code, out, _ = cli("init", str(path), "--json", "--then-train", "2")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    names = [r["event"] for r in records]
    assert names[0] == "InitStarted"
    assert names[-3:] == ["InitReady", "TrainStep", "TrainStep"]
    assert names.count("PhaseCompleted") == len(PHASES)
    assert [r["seq"] for r in records if r["event"] != "TrainStep"] == list(range(len(records) - 2))
    assert records[0]["config"]["hub_token"] == "***REDACTED***"
    assert "hf_canary_do_not_print_1234" not in out


def test_factory_error_has_no_traceback_unless_debug(cli, write):
    """A `model` factory that raises at load time: exit 1 with the key; --debug adds the traceback."""
    write("exploding_factories.py", FAILING_FACTORY)
    path = write("broken.yaml", "model: {factory: exploding_factories:make_model, kwargs: {size: 2}}\n")
    code, _out, err = cli("init", str(path))
    assert code == 1
    assert "model: exploding_factories:make_model(size=2) raised RuntimeError" in err
    assert "Traceback" not in err
    code, _out, err = cli("init", str(path), "--debug")
    assert code == 1
    assert "Traceback (most recent call last)" in err


def test_bad_usage_exits_2():
    """argparse rejects --then-train 0 and --plain with --json, exit code 2."""
    from fsm.cli import main

    with pytest.raises(SystemExit, match="2"):
        main(["init", "--then-train", "0"])
    with pytest.raises(SystemExit, match="2"):
        main(["init", "--plain", "--json"])


def _read_all(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_live_display_in_a_pseudo_terminal(tmp_path):
    """On a terminal, init draws a live table (spinner, running, done) and then the summary."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fsm", "init"], cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    try:
        raw = _read_all(master, proc, timeout=90)
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    text = raw.decode("utf-8", errors="replace")
    assert "\x1b[" in text  # drawn with terminal control sequences
    assert "running" in text and "✓ done" in text and "· pending" in text
    assert "\x1b[?25l" in text  # the live display hides the cursor while it redraws
    summary = text[text.index("set-up summary") :]
    for spec in PHASES:
        assert spec.trigger in summary
    assert "Ready in" in summary


def test_transition_guard_rejection_shows_how_far_the_set_up_got(cli, write):
    """A rule on a later transition (a model_init model without a loss) exits 2 after the phases that ran."""
    path = write(
        "linear.yaml",
        "output_dir: out/linear\n"
        "model_init: {factory: 'torch.nn:Linear', kwargs: {in_features: 8, out_features: 1}}\n"
        "train_dataset: fsm.demo:SyntheticRegression\n",
    )
    code, out, err = cli("init", str(path), "--plain")
    assert code == 2
    assert "[ 4/11] resolve_strategy   REJECTED by model.init_cannot_compute_loss" in out
    assert "Linear from model_init: 9 parameters" in out
    assert out.count("not run") == len(PHASES) - 4
    assert "[model.init_cannot_compute_loss]" in err
    assert "The set-up stopped in ModelResolved" in err
    assert "'resolve_strategy' and those after it did not" in err
