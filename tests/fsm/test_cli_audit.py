"""`trainer-fsm audit verify|show|diff`: exit codes, what each prints, no tracebacks."""

from __future__ import annotations

import pytest
from accelerate.state import AcceleratorState

from events.audit import AuditSink
from fsm import InitConfig, TrainerInit
from fsm.cli import EXIT_AUDIT, EXIT_OK, EXIT_USAGE, main
from fsm.demo import demo_inputs


def _set_up(tmp_path, name="audit", **changes):
    config = InitConfig(**{"output_dir": str(tmp_path / "out"), "use_cpu": True, **changes})
    init = TrainerInit(config, **demo_inputs("mlp", samples=32), log=False, audit=tmp_path / f"{name}.jsonl")
    init.run()
    return init


@pytest.fixture
def audit_log(tmp_path, monkeypatch):
    """A full set-up's (unkeyed) audit log."""
    monkeypatch.delenv("TRAINER_FSM_AUDIT_KEY", raising=False)
    return _set_up(tmp_path).audit.path


def test_verify_intact_exits_0(audit_log, capsys):
    """An intact log: exit 0 and a line saying how many records and runs."""
    assert main(["audit", "verify", str(audit_log)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "intact:" in out and "1 run" in out and str(audit_log) in out


def test_verify_tampered_exits_3_naming_the_line(audit_log, capsys):
    """An edited record: exit 3, the line and why, on standard error."""
    lines = audit_log.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"attempt":1', b'"attempt":2')
    audit_log.write_bytes(b"".join(lines))
    assert main(["audit", "verify", str(audit_log)]) == EXIT_AUDIT
    err = capsys.readouterr().err
    assert "NOT INTACT: line 5:" in err and "hash does not match" in err


def test_verify_several_files_reports_each(audit_log, tmp_path, capsys):
    """Several files: one line each; the worst outcome decides the exit code."""
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(audit_log.read_bytes()[:-20])
    assert main(["audit", "verify", str(audit_log), str(broken)]) == EXIT_AUDIT
    captured = capsys.readouterr()
    assert "intact" in captured.out and "is incomplete" in captured.err


def test_verify_unreadable_exits_2(tmp_path, capsys):
    """A missing file: exit 2 and what to give instead."""
    assert main(["audit", "verify", str(tmp_path / "nope.jsonl")]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err


def test_verify_with_head_and_key(tmp_path, monkeypatch, capsys):
    """--head checks the last record; --key-env names the variable holding the HMAC key."""
    monkeypatch.setenv("MY_AUDIT_KEY", "cli-key-123456")
    monkeypatch.delenv("TRAINER_FSM_AUDIT_KEY", raising=False)
    init = TrainerInit(
        InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True),
        **demo_inputs("mlp", samples=16),
        log=False,
        audit=AuditSink(tmp_path / "keyed.jsonl", key="cli-key-123456"),
    )
    init.run()
    path = str(tmp_path / "keyed.jsonl")
    assert main(["audit", "verify", path]) == EXIT_AUDIT
    assert "TRAINER_FSM_AUDIT_KEY" in capsys.readouterr().err
    assert main(["audit", "verify", "--key-env", "MY_AUDIT_KEY", "--head", init.audit.head, path]) == EXIT_OK
    assert "HMAC-SHA256, key checked" in capsys.readouterr().out
    assert main(["audit", "verify", "--key-env", "MY_AUDIT_KEY", "--head", "0" * 64, path]) == EXIT_AUDIT
    assert "not the expected head" in capsys.readouterr().err
    assert main(["audit", "verify", "--key-env", "UNSET_AUDIT_KEY_VAR", path]) == EXIT_USAGE
    assert "--key-env UNSET_AUDIT_KEY_VAR: that environment variable is not set" in capsys.readouterr().err


def test_show_prints_the_timeline(audit_log, capsys):
    """show: verified, the run, and a row per phase with outcome and decision."""
    assert main(["audit", "show", str(audit_log)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "verified" in out and "Ready" in out
    for phase in ("seed", "accelerate", "prepare_output", "finalize"):
        assert phase in out
    assert "seed=42" in out and "completed" in out


def test_show_says_when_a_log_does_not_verify(audit_log, capsys):
    """show on a tampered log still shows it, headed by DOES NOT VERIFY and the line."""
    lines = audit_log.read_bytes().splitlines(keepends=True)
    audit_log.write_bytes(b"".join(lines[:3] + lines[4:]))
    assert main(["audit", "show", str(audit_log)]) == EXIT_OK
    assert "DOES NOT VERIFY: line 4" in capsys.readouterr().out


def test_diff_prints_the_differences(tmp_path, capsys):
    """diff: a table of what differs (seed, precision) and how many volatile fields were hidden."""
    (tmp_path / "out").mkdir()
    a = _set_up(tmp_path, "a", seed=1)
    AcceleratorState._reset_state(reset_partial_state=True)  # a new precision needs a fresh accelerate state
    b = _set_up(tmp_path, "b", seed=2, bf16=True)
    assert main(["audit", "diff", str(a.audit.path), str(b.audit.path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "config" in out and "seed" in out and "bf16" in out and "mixed_precision" in out
    assert "4 difference(s)" in out and "volatile field(s) hidden" in out
    assert main(["audit", "diff", "--all", str(a.audit.path), str(b.audit.path)]) == EXIT_OK
    assert "duration_s" in capsys.readouterr().out


def test_diff_of_identical_set_ups_says_so(tmp_path, capsys):
    """Two set-ups with the same config: no differences."""
    (tmp_path / "out").mkdir()
    a, b = _set_up(tmp_path, "a"), _set_up(tmp_path, "b")
    assert main(["audit", "diff", str(a.audit.path), str(b.audit.path)]) == EXIT_OK
    assert "no differences" in capsys.readouterr().out


def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys):
    """Garbage and unknown runs: exit 2 with a one-line reason, no traceback."""
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\xff not json\n")
    assert main(["audit", "show", str(garbage)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("trainer-fsm audit:") and "holds no audit record" in err and "Traceback" not in err
    log = _set_up(tmp_path).audit.path
    assert main(["audit", "show", "--run", "nosuchrun", str(log)]) == EXIT_USAGE
    assert "no run in" in capsys.readouterr().err


def test_audit_without_an_action_prints_usage(capsys):
    """`trainer-fsm audit` alone: the usage, exit 2."""
    assert main(["audit"]) == EXIT_USAGE
    assert "verify" in capsys.readouterr().err
