"""`trainer-fsm graph`: draw the state machine from the table the machine itself uses.

The states are `fsm.STATES` and the edges `fsm.transition_table()`. Mermaid comes from
transitions' own mermaid engine (`transitions.extensions.diagrams`, pure Python); DOT
is written here from the same rows, so neither needs anything installed. SVG and PNG
pipe that DOT through Graphviz's ``dot`` program when it is on the PATH, and otherwise
exit 2 saying how to install it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from fsm.cli import EXIT_OK, CliError

__all__ = ["EDGE_SETS", "FORMATS", "dot_source", "edges", "mermaid_source", "register", "run"]

FORMATS = ("mermaid", "dot", "svg", "png")
EDGE_SETS = ("phases", "fail", "all")
"""Which transitions to draw: the eleven phases; plus the ``fail`` edges (the default);
plus the ``rollback`` edges that `reconfigure` walks back."""

_INSTALL_GRAPHVIZ = (
    "rendering {fmt} needs Graphviz's `dot` program, which is not on the PATH. Install it "
    "(Debian/Ubuntu: sudo apt-get install graphviz; Fedora: sudo dnf install graphviz; macOS: "
    "brew install graphviz; conda: conda install -c conda-forge graphviz; Windows: winget install graphviz), "
    "or draw with --format mermaid or --format dot, which need nothing installed."
)


def register(subparsers: Any) -> None:
    """Add the `graph` subcommand."""
    parser = subparsers.add_parser(
        "graph",
        help="draw the state machine (mermaid, dot, svg, png)",
        description="Draw the set-up's state machine from the table the machine uses (fsm.transition_table()).",
    )
    parser.add_argument("--format", choices=FORMATS, default="mermaid", help="output format (default: mermaid)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--force", action="store_true", help="overwrite FILE when it exists")
    parser.add_argument("--highlight", metavar="STATE", help="mark STATE, e.g. where a run stopped")
    parser.add_argument(
        "--edges",
        choices=EDGE_SETS,
        default="fail",
        help="phases: the eleven phases only; fail: and the edges to Failed (default); all: and the rollbacks",
    )
    parser.set_defaults(func=run)


def edges(which: str = "fail") -> list[dict[str, Any]]:
    """The machine's transitions to draw, one ``{trigger, source, dest}`` per edge."""
    from fsm.machine import transition_table
    from fsm.phases import TRIGGERS

    if which not in EDGE_SETS:
        msg = f"edges={which!r} is unknown; use one of {', '.join(EDGE_SETS)}"
        raise ValueError(msg)
    keep = set(TRIGGERS)
    if which in ("fail", "all"):
        keep.add("fail")
    if which == "all":
        keep.add("rollback")
    rows = []
    for row in transition_table():
        if row["trigger"] not in keep:
            continue
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        rows.extend({"trigger": row["trigger"], "source": s, "dest": row["dest"]} for s in sources)
    return rows


def _check_state(state: str | None) -> None:
    from fsm.phases import STATES

    if state is not None and state not in STATES:
        import difflib

        close = difflib.get_close_matches(state, STATES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        msg = f"--highlight {state!r} is not a state; {hint}the states are {', '.join(STATES)}"
        raise CliError(msg)


def mermaid_source(which: str = "fail", highlight: str | None = None, title: str = "trainer-fsm") -> str:
    """A mermaid ``stateDiagram-v2``, drawn by transitions' mermaid engine."""
    from transitions.extensions.diagrams import GraphMachine

    from fsm.phases import INITIAL, STATES

    _check_state(highlight)

    class _Drawn:
        state: str

    machine = GraphMachine(
        model=_Drawn(),
        states=list(STATES),
        transitions=edges(which),
        initial=INITIAL,
        auto_transitions=False,
        graph_engine="mermaid",
        title=title,
    )
    graph = machine.graph_cls(machine)  # a fresh graph: no state is marked active
    if highlight is not None:
        graph.set_node_style(highlight, "active")
    lines = graph.get_graph(title=title).source.splitlines()
    # transitions writes the title as a bare front-matter line and `Class`; mermaid
    # wants `title: ...` and `class`.
    if lines[:3] == ["---", title, "---"]:
        lines[1] = f"title: {title}"
    lines = [line.replace("Class ", "class ", 1) if line.lstrip().startswith("Class ") else line for line in lines]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def dot_source(which: str = "fail", highlight: str | None = None, title: str = "trainer-fsm") -> str:
    """A Graphviz DOT digraph of the same edges."""
    from fsm.phases import FAILED, INITIAL, READY, STATES

    _check_state(highlight)
    out = [
        f'digraph "{title}" {{',
        "  rankdir=LR;",
        f'  label="{title}"; labelloc=t;',
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "__start" [shape=point, label=""];',
    ]
    for state in STATES:
        attrs = []
        if state == READY:
            attrs.append("peripheries=2")
        if state == FAILED:
            attrs.append("color=firebrick")
        if state == highlight:
            attrs += ["fillcolor=darksalmon", "color=red", "penwidth=2"]
        out.append(f'  "{state}"' + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append(f'  "__start" -> "{INITIAL}";')
    for row in edges(which):
        style = {"fail": ", style=dashed, color=firebrick", "rollback": ", style=dotted, color=gray40"}
        out.append(f'  "{row["source"]}" -> "{row["dest"]}" [label="{row["trigger"]}"{style.get(row["trigger"], "")}];')
    out.append("}")
    return "\n".join(out) + "\n"


def render(fmt: str, source: str) -> bytes:
    """Render DOT `source` to ``svg`` or ``png`` with Graphviz's ``dot``.

    Raises:
        CliError: ``dot`` is not installed (exit 2, with how to install it), or it failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise CliError(_INSTALL_GRAPHVIZ.format(fmt=fmt))
    done = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        msg = f"`dot -T{fmt}` failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()}"
        raise CliError(msg, exit_code=1)
    return done.stdout


def run(args: argparse.Namespace) -> int:
    """Draw the machine; returns the exit code."""
    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        msg = f"{output} exists; choose another -o FILE, or pass --force to overwrite it"
        raise CliError(msg)
    if output is None and args.format == "png" and sys.stdout.isatty():
        msg = "PNG is binary: give -o FILE.png, or redirect standard output to a file"
        raise CliError(msg)
    if args.format == "mermaid":
        data = mermaid_source(args.edges, args.highlight).encode()
    else:
        source = dot_source(args.edges, args.highlight)
        data = source.encode() if args.format == "dot" else render(args.format, source)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(output)
        print(f"wrote {args.format} to {output}", file=sys.stderr)
    return EXIT_OK
