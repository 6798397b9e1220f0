"""`show` and `diff`: a run's timeline, and exactly what differs between two set-ups."""

from __future__ import annotations

import pytest
from accelerate.state import AcceleratorState

from events.audit import AuditReadError, diff, read, run_summary, show
from fsm import InitConfig, TrainerInit
from fsm.demo import demo_inputs


def _set_up(tmp_path, name, **changes):
    """A CPU set-up into the shared tmp_path/out, its audit log at tmp_path/<name>.jsonl."""
    config = InitConfig(**{"output_dir": str(tmp_path / "out"), "use_cpu": True, **changes})
    init = TrainerInit(config, **demo_inputs("mlp", samples=32), log=False, audit=tmp_path / f"{name}.jsonl")
    init.run()
    return init


def test_diff_of_seed_and_precision_shows_exactly_those(tmp_path):
    """Two set-ups differing in seed and bf16: the config fields and the decisions they drive, nothing else."""
    (tmp_path / "out").mkdir()
    a = _set_up(tmp_path, "a", seed=1)
    AcceleratorState._reset_state(reset_partial_state=True)  # as a new process: accelerate's state is a singleton
    b = _set_up(tmp_path, "b", seed=2, bf16=True)
    result = diff(a.audit.path, b.audit.path)
    assert result.keys() == [
        "config.bf16",
        "config.seed",
        "decisions.accelerate.mixed_precision",
        "decisions.seed.seed",
    ]
    by_key = {f"{d.section}.{d.key}": (d.a, d.b) for d in result.differences}
    assert by_key["config.seed"] == (1, 2)
    assert by_key["decisions.accelerate.mixed_precision"] == ("no", "bf16")
    assert result.hidden > 0  # durations and start times differ, and are hidden
    assert (result.run_a, result.run_b) == (a.bus.run_id, b.bus.run_id)


def test_diff_shows_volatile_fields_when_asked(tmp_path):
    """show_volatile adds the hidden fields: durations and start times."""
    (tmp_path / "out").mkdir()
    a, b = _set_up(tmp_path, "a"), _set_up(tmp_path, "b")
    quiet = diff(a.audit.path, b.audit.path)
    loud = diff(a.audit.path, b.audit.path, show_volatile=True)
    assert quiet.differences == () and not quiet
    assert len(loud.differences) == quiet.hidden
    assert {"run.started", "outcomes.seed.duration_s"} <= set(loud.keys())


def test_diff_of_two_runs_in_one_file(tmp_path):
    """--run-a/--run-b pick runs of the same file by id prefix; an unknown prefix names the runs there."""
    (tmp_path / "out").mkdir()
    first = _set_up(tmp_path, "both", seed=3)
    second = _set_up(tmp_path, "both", seed=4)
    path = tmp_path / "both.jsonl"
    result = diff(path, path, run_a=first.bus.run_id[:8], run_b=second.bus.run_id[:8])
    assert "config.seed" in set(result.keys())
    with pytest.raises(AuditReadError, match=r"no run in .* starts with 'zzz'; its runs are: " + first.bus.run_id):
        diff(path, path, run_a="zzz")


def test_diff_reports_outcomes_and_attempts(tmp_path):
    """A run where model_init failed once then succeeded differs from a clean one in its attempts."""
    (tmp_path / "out").mkdir()
    clean = _set_up(tmp_path, "clean")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the weights server dropped the connection")
        return demo_inputs("mlp", samples=8)["model"]

    config = InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True)
    retried_path = tmp_path / "retried.jsonl"
    retried = TrainerInit(
        config,
        model_init=flaky,
        train_dataset=demo_inputs("mlp", samples=32)["train_dataset"],
        log=False,
        audit=retried_path,
    )
    retried.sleep = lambda _s: None
    retried.run()
    result = diff(clean.audit.path, retried_path)
    by_key = {f"{d.section}.{d.key}": (d.a, d.b) for d in result.differences}
    assert by_key["outcomes.resolve_model.attempts"] == (1, 2)
    assert by_key["decisions.resolve_model.source"] == ("model", "model_init")


def test_show_tells_the_timeline_with_retries_and_decisions(tmp_path):
    """show: one row per phase attempt (a failed-then-retried one included), with what each decided."""
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the weights server dropped the connection")
        return demo_inputs("mlp", samples=8)["model"]

    init = TrainerInit(
        InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True, seed=11),
        model_init=flaky,
        log=False,
    )
    init.sleep = lambda _s: None
    setup = init.run()
    (timeline,) = show(setup.audit_path)
    assert timeline.run_id == init.bus.run_id and timeline.outcome == "Ready"
    assert timeline.versions["torch"] and timeline.host
    rows = [(r.phase, r.attempt, r.outcome) for r in timeline.rows]
    assert rows[:4] == [
        ("seed", 1, "completed"),
        ("accelerate", 1, "completed"),
        ("resolve_model", 1, "failed, will retry"),
        ("resolve_model", 2, "completed"),
    ]
    assert rows[-1] == ("-", None, "Ready")
    assert "ConnectionError: the weights server dropped" in timeline.rows[2].decided
    assert "seed=11" in timeline.rows[0].decided
    assert all(r.duration_s is not None for r in timeline.rows if r.outcome == "completed")


def test_show_of_a_failed_and_a_reconfigured_run(tmp_path):
    """A failed set-up ends in Failed with the error; a reconfigure shows as its own rows."""
    (tmp_path / "out").mkdir()

    def broken():
        raise RuntimeError("model_init is broken")

    failed = TrainerInit(InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True), model_init=broken, log=False)
    with pytest.raises(Exception, match="model_init is broken"):
        failed.run()
    ok = TrainerInit(InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True), **demo_inputs("mlp"), log=False)
    ok.run()
    ok.reconfigure(seed=5)
    ok.resume()
    timelines = show(tmp_path / "out" / "trainer_fsm_audit.jsonl")
    assert [t.outcome for t in timelines] == ["Failed", "Ready"]
    assert "RuntimeError: model_init is broken" in timelines[0].rows[-1].decided
    outcomes = [r.outcome for r in timelines[1].rows]
    assert "reconfigured" in outcomes and "rolled back (reconfigure)" in outcomes
    assert show(tmp_path / "out" / "trainer_fsm_audit.jsonl", run=ok.bus.run_id[:6])[0].run_id == ok.bus.run_id


def test_run_summary_keeps_the_last_decision_of_a_re_run_phase(tmp_path):
    """After reconfigure(seed=...), the summary's config and decisions are the new ones."""
    init = _set_up(tmp_path, "a", seed=1)
    init.reconfigure(seed=9)
    init.resume()
    summary = run_summary(read(init.audit.path).run())
    assert summary["config"]["seed"] == 9 and summary["decisions"]["seed.seed"] == 9
    assert summary["run"]["outcome"] == "Ready"
