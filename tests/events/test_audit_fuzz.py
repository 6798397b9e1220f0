"""Fuzz: garbage bytes, random JSON, records with odd payloads and huge lines fed to
verify/show/diff (Python API and the `trainer-fsm audit` command) give clear errors,
never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.audit import GENESIS, MAX_LINE_BYTES, AuditReadError, canonical, diff, read, record_hash, show, verify
from events.types import EVENT_TYPES

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _exercise(path: Path) -> None:
    """verify returns a result; read returns; show and diff return or raise AuditReadError."""
    result = verify(path)
    assert isinstance(result.summary(), str)
    if not result.ok:
        assert result.problem is not None and str(result.problem)
    read(path)
    for call in (lambda: show(path), lambda: diff(path, path)):
        try:
            call()
        except AuditReadError as exc:
            assert str(path) in str(exc)


@_SETTINGS
@given(blob=st.binary(max_size=3000))
def test_random_bytes(tmp_path, blob):
    """Random bytes never verify and never raise anything but AuditReadError."""
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(blob)
    _exercise(path)
    assert not verify(path).ok


@_SETTINGS
@given(values=st.lists(json_values, min_size=1, max_size=5))
def test_random_json_lines(tmp_path, values):
    """Lines of random JSON are named as not audit records."""
    path = tmp_path / "fuzz.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    _exercise(path)
    result = verify(path)
    assert not result.ok and result.problem.line == 1


def _chain(events: list[tuple[str, object, dict]]) -> bytes:
    """Correctly chained records carrying arbitrary phases and payloads."""
    lines, prev = [], GENESIS
    for seq, (event, phase, payload) in enumerate(events):
        record = {
            "v": 1,
            "run_id": "fuzzrun",
            "seq": seq,
            "time": "2026-01-01T00:00:00.000000Z",
            "mono": float(seq),
            "rank": 0,
            "world_size": 1,
            "event": event,
            "phase": phase,
            "attempt": seq % 3,
            "payload": payload,
            "prev": prev,
            "alg": "sha256",
        }
        record["hash"] = prev = record_hash(record, None)
        lines.append(canonical(record) + b"\n")
    return b"".join(lines)


@_SETTINGS
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(sorted(EVENT_TYPES)),
            st.none() | st.sampled_from(["seed", "place", "prepare_output", "x"]),
            st.dictionaries(
                st.sampled_from(["config", "environment", "changes", "violations", "error", "duration_s", "final"])
                | st.text(max_size=6),
                json_values,
                max_size=5,
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_valid_chains_with_odd_payloads(tmp_path, events):
    """Records that verify but carry payloads of the wrong shapes: show and diff still answer."""
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(_chain(events))
    assert verify(path).ok
    (timeline,) = show(path)
    assert timeline.run_id == "fuzzrun"
    assert diff(path, path).differences == ()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"a" * (10 * 1024 * 1024), id="10MB-no-newline"),
        pytest.param(b"a" * (10 * 1024 * 1024) + b"\n", id="10MB-line"),
        pytest.param(b'{"v":1,"payload":"' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n', id="huge-json"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000 + b"\n", id="deep-json"),
        pytest.param(b'{"v":1,"seq":' + b"9" * 5000 + b"}\n", id="huge-int"),
        pytest.param(b'{"v":1,"v":1}\n', id="duplicate-keys"),
        pytest.param(b"\x1b[31mred\x1b[0m\n", id="ansi"),
        pytest.param(b"", id="empty"),
    ],
)
def test_pathological_files_give_clear_problems(tmp_path, content):
    """Huge, deep, empty or hostile lines are reported as problems, not crashes."""
    path = tmp_path / "odd.jsonl"
    path.write_bytes(content)
    _exercise(path)
    result = verify(path)
    assert not result.ok
    if len(content) > MAX_LINE_BYTES and content.endswith(b"\n"):
        assert result.problem.kind == "too_long" and "over the" in result.problem.message


def test_unreadable_paths_raise_a_clear_error(tmp_path):
    """A missing file or a directory is an AuditReadError that says what to give instead."""
    with pytest.raises(AuditReadError, match="no such file; give the path of an audit log"):
        verify(tmp_path / "missing.jsonl")
    with pytest.raises(AuditReadError, match="is a directory; give the audit file inside it"):
        show(tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "fsm", "audit", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_the_command_never_shows_a_traceback(tmp_path):
    """`trainer-fsm audit` on garbage, JSON, huge lines, a directory, a missing file: exit 2/3, no traceback."""
    files = {
        "garbage": os.urandom(5000),
        "json": b'[1, 2]\n{"a": {"b": null}}\n',
        "huge": b"z" * (10 * 1024 * 1024) + b"\n",
        "markup": b"[bold red]not[/] a record\n",
        "empty": b"",
    }
    paths = []
    for name, content in files.items():
        paths.append(tmp_path / f"{name}.jsonl")
        paths[-1].write_bytes(content)
    runs = {
        "verify": _cli("verify", *map(str, paths)),
        "verify-missing": _cli("verify", str(tmp_path / "missing.jsonl")),
        "show": _cli("show", str(paths[0])),
        "show-dir": _cli("show", str(tmp_path)),
        "diff": _cli("diff", str(paths[1]), str(paths[2])),
    }
    expected = {"verify": 3, "verify-missing": 2, "show": 2, "show-dir": 2, "diff": 2}
    for name, done in runs.items():
        assert done.returncode == expected[name], (name, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, name
        assert done.stderr.strip(), name
    verify_lines = runs["verify"].stderr.strip().splitlines()
    assert len(verify_lines) == len(paths) and all("NOT INTACT" in line for line in verify_lines)
    assert "over the 4,194,304-byte limit" in runs["verify"].stderr
    assert "no such file" in runs["verify-missing"].stderr
