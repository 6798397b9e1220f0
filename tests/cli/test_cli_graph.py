"""`trainer-fsm graph`: mermaid and dot from the machine's own table, highlight, files."""

from __future__ import annotations

import re
import shutil

import pytest

from fsm import FAILED, PHASES, STATES
from fsm.cli.graph import dot_source, edges, mermaid_source


def test_mermaid_has_every_state_and_phase_edge(cli):
    """The default mermaid diagram has each state, each phase edge and the fail edges."""
    code, out, _ = cli("graph")
    assert code == 0
    assert out.startswith("---\ntitle: trainer-fsm\n---\nstateDiagram-v2\n")
    for state in STATES:
        assert f'state "{state}" as {state}' in out
    for spec in PHASES:
        assert f"{spec.source} --> {spec.dest}: {spec.trigger}" in out
    assert out.count(f"--> {FAILED}: fail") == len(PHASES)
    assert "rollback" not in out
    assert re.findall(r"class (\w+) s_active", out) == []  # nothing highlighted


def test_highlight_marks_one_state(cli):
    """--highlight STATE gives that state (only) the active style, in mermaid and dot."""
    _, out, _ = cli("graph", "--highlight", "Placed")
    assert "class Placed s_active" in out
    assert re.findall(r"class (\w+) s_active", out) == ["Placed"]
    dot = dot_source(highlight="Placed")
    assert '"Placed" [fillcolor=darksalmon, color=red, penwidth=2];' in dot


def test_unknown_highlight_is_a_usage_error_with_a_suggestion(cli):
    """A misspelt state exits 2 and suggests the closest one."""
    code, out, err = cli("graph", "--highlight", "Plaecd")
    assert code == 2
    assert out == ""
    assert "did you mean 'Placed'?" in err


def test_dot_has_every_edge_of_the_chosen_set(cli):
    """--format dot draws every transition of the table; --edges all adds the rollbacks."""
    code, out, _ = cli("graph", "--format", "dot", "--edges", "all")
    assert code == 0
    assert out.startswith('digraph "trainer-fsm" {')
    for spec in PHASES:
        assert f'"{spec.source}" -> "{spec.dest}" [label="{spec.trigger}"];' in out
        assert f'"{spec.dest}" -> "{spec.source}" [label="rollback"' in out
    assert len(edges("all")) == out.count(" -> ") - 1  # minus the start arrow
    assert len(edges("phases")) == len(PHASES)


def test_mermaid_and_dot_follow_the_same_table():
    """Both formats draw exactly the edges `edges()` derives from transition_table()."""
    rows = edges("fail")
    mermaid, dot = mermaid_source("fail"), dot_source("fail")
    for row in rows:
        assert f"{row['source']} --> {row['dest']}: {row['trigger']}" in mermaid
        assert f'"{row["source"]}" -> "{row["dest"]}" [label="{row["trigger"]}"' in dot


def test_output_file_is_written_and_never_overwritten_without_force(cli, tmp_path):
    """-o writes the file; an existing file is kept (exit 2) unless --force is given."""
    target = tmp_path / "machine.mmd"
    assert cli("graph", "-o", str(target))[0] == 0
    assert target.read_text().startswith("---\ntitle: trainer-fsm")
    target.write_text("my notes")
    code, _, err = cli("graph", "--format", "dot", "-o", str(target))
    assert code == 2 and "--force" in err
    assert target.read_text() == "my notes"
    assert cli("graph", "--format", "dot", "-o", str(target), "--force")[0] == 0
    assert target.read_text().startswith("digraph")


def test_svg_without_graphviz_says_how_to_install_it(cli, monkeypatch, tmp_path):
    """With no `dot` on the PATH, svg and png exit 2 with install instructions and write nothing."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for fmt in ("svg", "png"):
        code, _out, err = cli("graph", "--format", fmt, "-o", str(tmp_path / f"m.{fmt}"))
        assert code == 2
        assert "apt-get install graphviz" in err and "brew install graphviz" in err
        assert not (tmp_path / f"m.{fmt}").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_with_graphviz(cli, tmp_path):
    """With Graphviz installed, --format svg renders an SVG naming every state."""
    target = tmp_path / "machine.svg"
    assert cli("graph", "--format", "svg", "-o", str(target))[0] == 0
    svg = target.read_text()
    assert "<svg" in svg
    for state in STATES:
        assert state in svg
