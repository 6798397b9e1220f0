"""Tamper evidence: a real set-up's audit log verifies, and every kind of change to it is
caught and named by line (edited byte, deleted, swapped, forged, truncated)."""

from __future__ import annotations

import json
import random

import pytest

from events.audit import GENESIS, AuditSink, canonical, read, record_hash, verify
from fsm import InitConfig, TrainerInit
from fsm.demo import demo_inputs


def _set_up(tmp_path, **kwargs):
    """Run a real CPU set-up writing its audit log into tmp_path/out; returns the init."""
    config = InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True, seed=kwargs.pop("seed", 42))
    init = TrainerInit(config, **demo_inputs("mlp", samples=32), log=False, **kwargs)
    init.run()
    return init


@pytest.fixture
def audit_file(tmp_path, monkeypatch):
    """The audit log of one full, unkeyed set-up."""
    monkeypatch.delenv("TRAINER_FSM_AUDIT_KEY", raising=False)
    init = _set_up(tmp_path)
    return init.audit.path


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def _forge(record, **changes):
    """A record changed and re-hashed, as a forger who knows the format would write it."""
    forged = {**record, **changes}
    forged["hash"] = record_hash(forged, None)
    return canonical(forged) + b"\n"


def test_a_full_set_up_verifies(audit_file):
    """The log of a full set-up verifies: one run, every event, chained from the genesis hash."""
    result = verify(audit_file)
    records = read(audit_file).records
    assert result.ok, result.summary()
    assert result.records == len(records) > 30
    assert result.runs == (records[0].run_id,)
    assert result.head == records[-1].hash
    assert records[0].data["prev"] == GENESIS
    assert records[0].event == "InitStarted" and records[-1].event == "InitReady"
    assert result.notes == ()


def test_every_byte_of_a_record_is_protected(audit_file):
    """Changing any single byte of the second record fails verify, naming line 2."""
    lines = _lines(audit_file)
    rng = random.Random(2)
    for offset in range(len(lines[1])):
        changed = bytearray(lines[1])
        changed[offset] = rng.choice([b for b in range(256) if b != changed[offset]])
        audit_file.write_bytes(b"".join([lines[0], bytes(changed), *lines[2:]]))
        result = verify(audit_file)
        assert not result.ok and result.problem.line == 2, (offset, result.summary())


def test_a_changed_byte_in_any_record_names_its_line(audit_file):
    """One edited byte anywhere (several places in every record) is named by its line."""
    lines = _lines(audit_file)
    rng = random.Random(5)
    for index, line in enumerate(lines):
        for offset in {0, len(line) - 2, len(line) - 1, *rng.sample(range(len(line)), 6)}:
            changed = bytearray(line)
            changed[offset] = ord("7") if changed[offset] != ord("7") else ord("8")
            audit_file.write_bytes(b"".join([*lines[:index], bytes(changed), *lines[index + 1 :]]))
            result = verify(audit_file)
            assert not result.ok and result.problem.line == index + 1, (index, offset, result.summary())
            assert result.records == index


def test_a_deleted_record_is_named(audit_file):
    """Deleting any record but the last fails verify at the line where it is missing."""
    lines = _lines(audit_file)
    for index in range(len(lines) - 1):
        audit_file.write_bytes(b"".join(lines[:index] + lines[index + 1 :]))
        result = verify(audit_file)
        assert not result.ok and result.problem.line == index + 1, (index, result.summary())
        assert result.problem.kind == "missing"
        assert "missing" in result.problem.message


def test_a_cut_off_tail_needs_the_head_to_be_detected(audit_file):
    """Deleting the last record leaves a valid chain, noted as unfinished; the expected head catches it."""
    lines = _lines(audit_file)
    head = read(audit_file).records[-1].hash
    audit_file.write_bytes(b"".join(lines[:-1]))
    plain = verify(audit_file)
    assert plain.ok and any("no InitReady or InitFailed" in note for note in plain.notes)
    anchored = verify(audit_file, expect_head=head)
    assert not anchored.ok and anchored.problem.kind == "head"
    assert anchored.problem.line == len(lines) - 1


def test_swapped_records_are_named(audit_file):
    """Swapping two records, next to each other or far apart, fails at the first moved line."""
    lines = _lines(audit_file)
    pairs = [(i, i + 1) for i in range(len(lines) - 1)] + [(2, 20), (0, len(lines) - 1)]
    for i, j in pairs:
        swapped = list(lines)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        audit_file.write_bytes(b"".join(swapped))
        result = verify(audit_file)
        assert not result.ok and result.problem.line == i + 1, ((i, j), result.summary())
        assert result.problem.kind in {"missing", "order"}


def test_an_appended_record_with_a_stale_hash_is_named(audit_file):
    """A record appended by copying the last one and editing it fails at its line."""
    lines = _lines(audit_file)
    last = json.loads(lines[-1])
    forged = {**last, "seq": last["seq"] + 1, "prev": last["hash"], "event": "InitFailed"}
    audit_file.write_bytes(b"".join([*lines, canonical(forged) + b"\n"]))
    result = verify(audit_file)
    assert not result.ok and result.problem.line == len(lines) + 1
    assert result.problem.kind == "hash" and "edited" in result.problem.message


def test_an_appended_record_with_a_recomputed_chain_is_caught_only_by_an_anchor(audit_file):
    """A correctly re-hashed forged record passes plain SHA-256 (as documented) but not the head."""
    lines = _lines(audit_file)
    last = json.loads(lines[-1])
    forged = _forge(last, seq=last["seq"] + 1, prev=last["hash"], event="InitFailed")
    audit_file.write_bytes(b"".join([*lines, forged]))
    assert verify(audit_file).ok
    result = verify(audit_file, expect_head=last["hash"])
    assert not result.ok and result.problem.kind == "head" and result.problem.line == len(lines) + 1


def test_with_a_key_a_forged_record_is_caught(tmp_path, monkeypatch):
    """Keyed (HMAC) logs: a forger without the key cannot chain a record, keyed or not."""
    monkeypatch.setenv("TRAINER_FSM_AUDIT_KEY", "k3y-for-the-audit-log")
    path = _set_up(tmp_path).audit.path
    lines = _lines(path)
    assert verify(path).ok and verify(path).keyed
    last = json.loads(lines[-1])
    for forged in (
        _forge(last, seq=last["seq"] + 1, prev=last["hash"]),  # keyed alg, wrong key (none)
        _forge(last, seq=last["seq"] + 1, prev=last["hash"], alg="sha256"),  # downgraded
        _forge({**last, "run_id": "f" * 32}, seq=0, prev=GENESIS, alg="sha256"),  # a whole new run
    ):
        path.write_bytes(b"".join([*lines, forged]))
        result = verify(path)
        assert not result.ok and result.problem.line == len(lines) + 1, result.summary()
        assert result.problem.kind in {"hash", "key"}


def test_a_keyed_log_needs_its_key(tmp_path, monkeypatch):
    """Without the key a keyed log does not verify and says which variable to set; a wrong key fails."""
    monkeypatch.setenv("TRAINER_FSM_AUDIT_KEY", "the-right-key")
    path = _set_up(tmp_path).audit.path
    monkeypatch.delenv("TRAINER_FSM_AUDIT_KEY")
    result = verify(path)
    assert not result.ok and result.problem.kind == "key" and result.problem.line == 1
    assert "TRAINER_FSM_AUDIT_KEY" in result.problem.message
    wrong = verify(path, key="not-the-key")
    assert not wrong.ok and wrong.problem.kind == "hash" and "key is wrong" in wrong.problem.message
    assert verify(path, key="the-right-key").ok


def test_an_unkeyed_log_fails_when_a_key_is_expected(audit_file):
    """Giving a key demands keyed records: a plain SHA-256 log could be forged by anyone."""
    result = verify(audit_file, key="some-key")
    assert not result.ok and result.problem.kind == "key" and "not keyed" in result.problem.message


def test_a_truncated_last_line_is_reported_and_earlier_records_read(audit_file):
    """A crash mid-write (last line cut) is reported as incomplete; the records before it still read."""
    lines = _lines(audit_file)
    audit_file.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    result = verify(audit_file)
    assert not result.ok and result.problem.kind == "incomplete" and result.problem.line == len(lines)
    assert "incomplete" in str(result.problem) and result.records == len(lines) - 1
    log = read(audit_file)
    assert len(log.records) == len(lines) - 1
    assert [p.kind for p in log.problems] == ["incomplete"]


def test_several_runs_in_one_file_each_chain(tmp_path):
    """A second set-up appends its own chain to the same file; both runs verify."""
    first = _set_up(tmp_path)
    size = first.audit.path.stat().st_size
    before = first.audit.path.read_bytes()
    second = _set_up(tmp_path, seed=7)
    assert second.audit.path == first.audit.path
    assert second.audit.path.read_bytes()[:size] == before  # appended, never truncated
    result = verify(first.audit.path)
    assert result.ok and result.runs == (first.bus.run_id, second.bus.run_id)


def test_interleaved_runs_verify_but_a_replayed_run_start_does_not(tmp_path):
    """Two processes' runs interleaved line by line still verify; a run starting twice does not."""
    a = _set_up(tmp_path / "a").audit.lines()
    b = _set_up(tmp_path / "b").audit.lines()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"".join(x for pair in zip(a, b, strict=False) for x in pair) + b"".join(a[len(b) :]))
    assert verify(mixed).ok
    mixed.write_bytes(b"".join(a + a[:1]))
    result = verify(mixed)
    assert not result.ok and result.problem.line == len(a) + 1 and result.problem.kind == "order"


def test_the_sink_head_anchors_the_file(tmp_path):
    """AuditSink.head is the hash of the last record written; verify accepts it (or a 12+ digit prefix)."""
    init = _set_up(tmp_path)
    assert verify(init.audit.path, expect_head=init.audit.head).ok
    assert verify(init.audit.path, expect_head=init.audit.head[:12]).ok
    bad = verify(init.audit.path, expect_head="abc")
    assert not bad.ok and "at least 12 hex digits" in bad.problem.message


def test_records_in_memory_match_the_file(tmp_path):
    """The sink's in-memory records are exactly the lines on disk."""
    init = _set_up(tmp_path)
    assert isinstance(init.audit, AuditSink)
    assert b"".join(init.audit.lines()) == init.audit.path.read_bytes()
    assert [canonical(r) + b"\n" for r in init.audit.records] == init.audit.lines()
