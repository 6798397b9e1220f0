"""The README stays true to the code: events, states, reads, commands."""

from __future__ import annotations

import re
from pathlib import Path

from events import EVENT_TYPES
from fsm import PHASES, TRIGGERS
from handlers import default_phases

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_event_is_in_the_catalogue():
    """Each event class has a row in the README's event catalogue, and no row is stale."""
    rows = set(re.findall(r"^\| `(\w+)` \|", README, re.M))
    documented = rows - set(TRIGGERS)
    assert set(EVENT_TYPES) <= documented
    assert {r for r in documented if r[0].isupper()} <= set(EVENT_TYPES)


def test_reads_table_matches_the_handlers():
    """The README's reads table lists exactly what each phase declares."""
    for trigger, phase in default_phases().items():
        row = re.search(rf"^\s*\| `{trigger}` \| (.*) \|$", README, re.M)
        assert row, trigger
        listed = set() if row.group(1).startswith("(none") else {f.strip() for f in row.group(1).split(",")}
        assert listed == set(phase.reads), trigger


def test_state_diagram_follows_the_table():
    """The mermaid diagram has one edge per phase, labelled with its trigger."""
    for p in PHASES:
        assert f"{p.source} --> {p.dest}: {p.trigger}" in README


def test_ci_runs_the_readme_test_command():
    """.ci/run calls the exact test command the README gives."""
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    command = re.search(r"pip install -e '\.\[test\]' && (python -m pytest[^\n`]*)", README).group(1)
    assert command.strip() in ci
