"""Where and when the audit sink writes: inside output_dir by default, nothing for a
rejected config, in memory until the output directory exists, appended never truncated,
and a reconfigure that moves output_dir leaves no directory behind."""

from __future__ import annotations

import os

import pytest

from events.audit import DEFAULT_FILENAME, AuditSink, AuditWriteError, audit_filename, read, verify
from events.bus import EventBus
from events.exceptions import EventsError
from events.testing import capture_events
from events.types import InitReady, InitStarted, OutputPrepared, PhaseStarted, Reconfigured
from fsm import ConfigError, InitConfig, PhaseError, TrainerInit
from fsm.demo import demo_inputs


def _config(tmp_path, **changes):
    return InitConfig(**{"output_dir": str(tmp_path / "out"), "use_cpu": True, **changes})


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def inputs():
    """A tiny MLP and a little synthetic data."""
    return demo_inputs("mlp", samples=32)


def test_default_log_is_inside_output_dir_and_holds_every_event(tmp_path, inputs):
    """By default the log is <output_dir>/trainer_fsm_audit.jsonl, one record per event, in order."""
    with capture_events() as events:
        setup = TrainerInit(_config(tmp_path, hub_token="hf_not_in_the_log_123"), **inputs, log=False).run()
    path = tmp_path / "out" / DEFAULT_FILENAME
    assert setup.audit_path == str(path)
    records = read(path).records
    assert [r.event for r in records] == events.names()
    assert [r.seq for r in records] == list(range(len(records)))
    first = records[0]
    assert first.event == "InitStarted" and first.payload["config"]["seed"] == 42
    assert first.payload["config"]["hub_token"] == "***REDACTED***"
    env = first.payload["environment"]
    assert env["packages"]["torch"] and env["packages"]["accelerate"] and env["packages"]["transitions"]
    assert env["world_size"] == 1 and env["cpu_count"] == os.cpu_count()
    assert {"time", "mono", "rank", "phase", "attempt", "prev", "hash", "v"} <= set(first.data)
    assert first.time.endswith("Z") and "T" in first.time


def test_audit_false_writes_nothing(tmp_path, inputs):
    """audit=False: no sink, no file, audit_path None."""
    init = TrainerInit(_config(tmp_path), **inputs, log=False, audit=False)
    setup = init.run()
    assert init.audit is None and setup.audit_path is None
    assert _tree(tmp_path / "out") == []


def test_an_explicit_path_is_used_instead(tmp_path, inputs):
    """audit=<file> writes there and not into output_dir; audit=<dir> writes the default name in it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    setup = TrainerInit(_config(tmp_path), **inputs, log=False, audit=logs / "run.jsonl").run()
    assert setup.audit_path == str(logs / "run.jsonl") and verify(logs / "run.jsonl").ok
    assert _tree(tmp_path / "out") == []
    setup = TrainerInit(_config(tmp_path), **inputs, log=False, audit=str(logs)).run()
    assert setup.audit_path == str(logs / DEFAULT_FILENAME)


def test_a_bad_audit_setting_is_rejected(tmp_path, inputs):
    """audit= something that is not a bool, path or AuditSink is a ConfigError naming the fix."""
    with pytest.raises(ConfigError, match=r"audit=3 is not an audit setting: pass True"):
        TrainerInit(_config(tmp_path), **inputs, audit=3)


def test_a_rejected_config_leaves_nothing_on_disk(tmp_path):
    """Guards rejecting the config up front: no file anywhere; the rejection is in memory."""
    init = TrainerInit(_config(tmp_path), log=False, audit=tmp_path / "explicit.jsonl")
    with pytest.raises(ConfigError, match="neither `model` nor `model_init`"):
        init.run()
    assert _tree(tmp_path) == []
    assert [r["event"] for r in init.audit.records] == ["GuardRejected"]


def test_a_failure_before_output_dir_exists_keeps_records_in_memory(tmp_path):
    """A set-up failing before prepare_output creates nothing; its records stay in init.audit.records."""

    def model_init():
        raise RuntimeError("no weights here")

    init = TrainerInit(_config(tmp_path), model_init=model_init, log=False)
    with pytest.raises(PhaseError, match="no weights here"):
        init.run()
    assert _tree(tmp_path) == []
    assert init.audit.path is None
    assert [r["event"] for r in init.audit.records][-2:] == ["PhaseFailed", "InitFailed"]


def test_a_failure_writes_into_an_output_dir_that_already_existed(tmp_path):
    """When output_dir existed before the set-up, the records of a failed set-up are written there."""
    (tmp_path / "out").mkdir()

    def model_init():
        raise RuntimeError("no weights here")

    init = TrainerInit(_config(tmp_path), model_init=model_init, log=False)
    with pytest.raises(PhaseError):
        init.run()
    path = tmp_path / "out" / DEFAULT_FILENAME
    assert init.audit.path == path and verify(path).ok
    assert read(path).records[-1].event == "InitFailed"


def test_retry_after_an_early_failure_writes_the_whole_story(tmp_path, inputs):
    """Records held in memory after a failure reach the file once the retried set-up creates output_dir."""
    calls = []

    def model_init():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return inputs["model"]

    init = TrainerInit(_config(tmp_path), model_init=model_init, log=False)
    with pytest.raises(PhaseError):
        init.run()
    setup = init.resume()
    events = [r.event for r in read(setup.audit_path).records]
    assert events.count("InitFailed") == 1 and events[-1] == "InitReady"
    assert verify(setup.audit_path).ok


def test_reconfiguring_output_dir_moves_the_log_and_removes_the_created_dir(tmp_path, inputs):
    """reconfigure(output_dir=...): the created directory goes; the new one holds the whole run."""
    init = TrainerInit(_config(tmp_path, output_dir=str(tmp_path / "a" / "b")), **inputs, log=False)
    init.run()
    init.reconfigure(output_dir=str(tmp_path / "new"))
    setup = init.resume()
    assert not (tmp_path / "a").exists()
    assert setup.audit_path == str(tmp_path / "new" / DEFAULT_FILENAME)
    result = verify(setup.audit_path)
    assert result.ok and len(result.runs) == 1
    events = [r.event for r in read(setup.audit_path).records]
    assert events.count("InitReady") == 2 and "Reconfigured" in events
    assert len(events) == len(init.audit.records)


def test_a_created_dir_that_gained_a_users_file_keeps_it_and_the_log(tmp_path, inputs):
    """A user's file in the created directory: reconfigure keeps it and the log, which goes on there."""
    init = TrainerInit(_config(tmp_path), **inputs, log=False)
    init.run()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    init.reconfigure(output_dir=str(tmp_path / "new"))
    setup = init.resume()
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert setup.audit_path == str(tmp_path / "out" / DEFAULT_FILENAME) and verify(setup.audit_path).ok
    assert read(setup.audit_path).records[-1].event == "InitReady"


def test_a_pre_existing_output_dir_keeps_the_log_on_reconfigure(tmp_path, inputs):
    """A directory the set-up did not create is not removed; the log written there stays."""
    (tmp_path / "out").mkdir()
    init = TrainerInit(_config(tmp_path), **inputs, log=False)
    init.run()
    init.reconfigure(output_dir=str(tmp_path / "new"))
    init.resume()
    assert (tmp_path / "out" / DEFAULT_FILENAME).is_file()
    assert verify(tmp_path / "out" / DEFAULT_FILENAME).ok


def test_a_crash_remnant_is_kept_apart_from_the_next_run(tmp_path, inputs):
    """After a half-written last line, the next set-up starts on a new line: both runs read back."""
    first = TrainerInit(_config(tmp_path), **inputs, log=False)
    first.run()
    path = first.audit.path
    with path.open("ab") as f:
        f.write(b'{"alg":"sha256","attempt":0,"ev')
    second = TrainerInit(_config(tmp_path), **inputs, log=False)
    second.run()
    log = read(path)
    assert log.run_ids() == [first.bus.run_id, second.bus.run_id]
    assert len(log.records) == len(first.audit.records) + len(second.audit.records)
    result = verify(path)
    assert not result.ok and result.problem.line == len(first.audit.records) + 1


def test_an_unwritable_log_does_not_break_the_set_up(tmp_path, inputs):
    """A file that cannot be written is reported once (SubscriberFailed); the set-up reaches Ready."""
    link = tmp_path / "audit.jsonl"
    link.symlink_to(tmp_path / "missing-dir" / "audit.jsonl")
    with capture_events() as events:
        init = TrainerInit(_config(tmp_path), **inputs, log=False, audit=link)
        setup = init.run()
    failures = [e for e in events if e.name == "SubscriberFailed"]
    assert len(failures) == 1 and failures[0].error_type == "AuditWriteError"
    assert "kept in memory" in failures[0].error
    assert setup.audit_path is None and init.audit.records[-1]["event"] == "InitReady"


def test_a_log_whose_directory_never_appears_is_reported_at_ready(tmp_path, inputs):
    """An explicit path in a directory that never exists: a SubscriberFailed at InitReady, records in memory."""
    with capture_events() as events:
        init = TrainerInit(_config(tmp_path), **inputs, log=False, audit=tmp_path / "nowhere" / "a.jsonl")
        init.run()
    assert [e.error_type for e in events if e.name == "SubscriberFailed"] == ["AuditWriteError"]
    assert init.audit.path is None and not (tmp_path / "nowhere").exists()


def test_other_ranks_write_their_own_file(tmp_path):
    """Rank r > 0 writes <stem>_rank<r>.jsonl next to rank 0's file."""
    assert audit_filename(tmp_path / "a.jsonl", 0) == tmp_path / "a.jsonl"
    assert audit_filename(tmp_path / "a.jsonl", 3) == tmp_path / "a_rank3.jsonl"
    bus = EventBus(rank=1, world_size=2)
    sink = AuditSink(tmp_path / "a.jsonl", key="")
    bus.subscribe("*", sink, priority=sink.priority)
    bus.emit(InitStarted, config={"output_dir": str(tmp_path)})
    bus.emit(PhaseStarted, phase="prepare_output", attempt=1)
    bus.publish(OutputPrepared(output_dir=str(tmp_path)), phase="prepare_output", attempt=1)
    bus.emit(InitReady)
    assert sink.path == tmp_path / "a_rank1.jsonl" and not (tmp_path / "a.jsonl").exists()
    assert [r.data["rank"] for r in read(sink.path).records] == [1, 1, 1, 1]


def test_one_sink_records_one_run(tmp_path):
    """Feeding a sink events of a second run is refused with a clear message."""
    sink = AuditSink(tmp_path / "a.jsonl")
    sink(EventBus(run_id="run-one").stamp(InitStarted))
    other = EventBus(run_id="run-two")
    with pytest.raises(ValueError, match="give each TrainerInit its own AuditSink"):
        sink(other.stamp(InitStarted))
    sink(other.stamp(InitReady))  # said once; later events of that run are ignored quietly
    assert [r["run_id"] for r in sink.records] == ["run-one"]


def test_payload_values_become_plain_json(tmp_path):
    """numpy and torch scalars, arrays, paths, NaN and sets in a payload are recorded as plain JSON."""
    import math

    import numpy as np
    import torch

    bus = EventBus()
    sink = AuditSink(tmp_path / "a.jsonl", key="")
    bus.subscribe("*", sink)
    bus.emit(InitStarted, config={"output_dir": str(tmp_path)})
    changes = {"n": np.int64(3), "t": torch.tensor(2.5), "a": np.zeros(2), "p": tmp_path, "x": math.nan, "s": {2, 1}}
    bus.emit(Reconfigured, changes=changes)
    payload = read(sink.path).records[1].payload["changes"]
    assert payload == {"n": 3, "t": 2.5, "a": "[0. 0.]", "p": str(tmp_path), "x": "nan", "s": [1, 2]}
    assert verify(sink.path).ok


def test_a_key_in_use_never_reaches_the_file(tmp_path, inputs, monkeypatch):
    """The HMAC key is registered as a secret: even a payload echoing it is redacted."""
    monkeypatch.setenv("TRAINER_FSM_AUDIT_KEY", "hmac-key-canary-991")
    init = TrainerInit(_config(tmp_path, run_name="hmac-key-canary-991"), **inputs, log=False)
    init.run()
    assert init.audit.keyed
    assert b"hmac-key-canary-991" not in init.audit.path.read_bytes()


def test_audit_write_error_is_an_oserror():
    """AuditWriteError can be caught as an OSError or as the event layer's EventsError."""
    assert issubclass(AuditWriteError, OSError) and issubclass(AuditWriteError, EventsError)


def test_the_async_machine_writes_the_same_log(tmp_path, inputs):
    """AsyncTrainerInit records the same events as TrainerInit, in a file that verifies."""
    import asyncio

    from fsm import AsyncTrainerInit

    sync_setup = TrainerInit(_config(tmp_path, output_dir=str(tmp_path / "sync")), **inputs, log=False).run()
    async_init = AsyncTrainerInit(_config(tmp_path, output_dir=str(tmp_path / "async")), **inputs, log=False)
    async_setup = asyncio.run(async_init.run())
    assert verify(async_setup.audit_path).ok
    events = [r.event for r in read(async_setup.audit_path).records]
    assert events == [r.event for r in read(sync_setup.audit_path).records]
