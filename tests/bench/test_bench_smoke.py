"""The benchmark suite runs end to end in quick mode and reports well-formed results.

Timings are never asserted here (speed targets live in bench/ and bench/RESULTS.md);
these tests check the structure: every measurement gives rows, every row a status
that agrees with its value and target, and the markdown and JSON outputs hold them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch):
    """Make the repository's `bench` package importable (it is not installed)."""
    monkeypatch.syspath_prepend(str(REPO))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run `python -m bench --quick` once (in process) and keep its outputs."""
    import sys

    sys.path.insert(0, str(REPO))
    try:
        from bench.__main__ import main

        out = tmp_path_factory.mktemp("bench")
        code = main(["--quick", "--output", str(out / "RESULTS.md"), "--json", str(out / "results.json")])
    finally:
        sys.path.remove(str(REPO))
    return code, out


def test_quick_suite_runs_every_measurement_without_error(quick_run):
    """Every measurement of the quick suite completes: the exit code is 0 and no section failed."""
    code, out = quick_run
    data = json.loads((out / "results.json").read_text())
    failed = [s["raw"].get("error") for s in data["sections"] if s["number"] == "!"]
    assert failed == []
    assert code == 0


def test_every_section_has_rows_with_consistent_statuses(quick_run):
    """Each row has a key, a unit, and a status that follows from its value, target and met flag."""
    from bench.suite import MEASUREMENTS

    _, out = quick_run
    data = json.loads((out / "results.json").read_text())
    assert len(data["sections"]) == len(MEASUREMENTS)
    keys = [row["key"] for s in data["sections"] for row in s["rows"]]
    assert len(keys) == len(set(keys)), "row keys must be unique"
    for section in data["sections"]:
        for row in section["rows"]:
            if row["value"] is None:
                assert row["status"] == "n/a" and row["met"] is None
            elif row["target"]:
                assert isinstance(row["met"], bool)
                assert row["status"] == ("met" if row["met"] else "NOT MET")
            else:
                assert row["met"] is None and row["status"] == "-"


def test_quick_suite_measures_each_numbered_target(quick_run):
    """The targets of the issue each have a row with a value: set-up, overhead, cold start,
    recovery, event rate, memory, scaling."""
    _, out = quick_run
    data = json.loads((out / "results.json").read_text())
    rows = {row["key"]: row for s in data["sections"] for row in s["rows"]}
    for key in (
        "setup.fsm_all_off",  # no anchor in quick mode, but the row is there
        "overhead.small",
        "overhead.large",
        "overhead.flat",
        "cold.fsm_beyond_floor",
        "recovery.retry_vs_full",
        "events.rate_1",
        "events.growth_1_to_100",
        "memory.fsm_given_model",
        "memory.fsm_model_init",
    ):
        assert key in rows, key
    for key in ("overhead.small", "recovery.retry_vs_full", "events.rate_1", "memory.fsm_given_model"):
        assert rows[key]["value"] is not None and rows[key]["value"] > 0, key
    assert rows["setup.fsm_all_on"]["status"] == "n/a"
    assert "--quick" in rows["setup.fsm_all_on"]["note"]


def test_markdown_results_hold_machine_versions_command_and_table(quick_run):
    """RESULTS.md names the machine, the versions, the command, and has one table line per row."""
    _, out = quick_run
    text = (out / "RESULTS.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert "python -m bench --quick" in text
    for heading in ("## Machine", "## Versions", "## Results", "## Details"):
        assert heading in text
    assert "- torch: " in text and "- CPU: " in text and "- other processes kept " in text
    results = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    table = [line for line in results.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(table) == sum(len(s["rows"]) for s in data["sections"])


def test_profile_summary_names_where_the_time_goes(quick_run):
    """The profile section charges time to trainer-fsm's own modules and to the libraries."""
    _, out = quick_run
    data = json.loads((out / "results.json").read_text())
    profile = next(s for s in data["sections"] if s["number"] == "P")
    areas = profile["raw"]["all off"]["areas"]
    assert any(name.startswith(("fsm/", "handlers/", "events/")) for name in areas)
    assert profile["raw"]["all off"]["total_s"] > 0


def test_unknown_measurement_is_rejected_with_the_choices():
    """run_all names the unknown measurement and lists the valid ones."""
    from bench import run_all

    with pytest.raises(ValueError, match=r"unknown measurement\(s\) \['nope'\]; choose from setup, overhead"):
        run_all(only=["nope"])


def test_external_dicts_become_rows_with_the_audit_rate_target():
    """A standalone module's dict becomes rows; an audit records/s figure gets the >= 20,000/s target."""
    from bench._external import rows_from

    figures = {"records_per_s": 15_000.0, "records_per_setup": 35, "added_s_per_setup": 0.004, "x": {"added_ms": 0.4}}
    rows = {r.key: r for r in rows_from("audit", figures)}
    assert rows["audit.records_per_s"].met is False and rows["audit.records_per_s"].target == ">= 20,000/s"
    assert rows["audit.added_s_per_setup"].unit == "ms" and rows["audit.added_s_per_setup"].value == 4.0
    assert rows["audit.x.added_ms"].unit == "ms" and rows["audit.x.added_ms"].met is None
    assert "audit.records_per_setup" not in rows  # a count, kept for the details
    explicit = rows_from("validate", {"validate": {"value": 12.5, "unit": "us", "target": "< 50 us", "met": True}})
    assert explicit[0].value == 12.5 and explicit[0].status == "met"


def test_a_file_the_command_did_not_write_is_never_replaced(tmp_path, capsys):
    """--output and --json refuse an existing file that is not bench results, and leave it as it was."""
    from bench.__main__ import main

    notes = tmp_path / "notes.md"
    notes.write_text("my own notes\n")
    with pytest.raises(SystemExit):
        main(["--quick", "--only", "events", "--output", str(notes)])
    assert "--output" in capsys.readouterr().err
    assert notes.read_text() == "my own notes\n"
    data = tmp_path / "data.json"
    data.write_text('{"mine": 1}')
    with pytest.raises(SystemExit):
        main(["--quick", "--only", "events", "--json", str(data)])
    assert "was not written by `python -m bench`" in capsys.readouterr().err
    assert data.read_text() == '{"mine": 1}'


def test_results_the_command_wrote_are_replaced(tmp_path):
    """A second run may overwrite the markdown and JSON that an earlier run wrote."""
    from bench.__main__ import main

    out, figures = tmp_path / "RESULTS.md", tmp_path / "figures.json"
    for _ in range(2):
        assert main(["--quick", "--only", "events", "--output", str(out), "--json", str(figures)]) == 0
    assert out.read_text().startswith("# trainer-fsm benchmark results")
    assert json.loads(figures.read_text())["command"].startswith("python -m bench --quick")
