"""`trainer-fsm audit verify|show|diff`: read an audit log back.

* ``verify FILE...``: exit 0 when every file is intact, 3 when one is not (the first bad
  line and why), 2 when one cannot be read.
* ``show FILE``: a timeline per run (phase, attempt, outcome, duration, what it decided).
* ``diff A B``: what differs between two set-ups (config, environment, decisions,
  outcomes); volatile fields (pid, times, durations, memory) only with ``--all``.

Bad input (a missing file, garbage, a huge line) gives one clear line on standard error,
never a traceback (unless ``trainer-fsm --debug``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from fsm.cli import EXIT_AUDIT, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from rich.console import Console

    from events.audit import AuditDiff, RunTimeline

__all__ = ["register", "run_diff", "run_show", "run_verify"]

_KEY_ENV = "TRAINER_FSM_AUDIT_KEY"  # events.audit.KEY_ENV, without importing it for --help


def register(subparsers: Any) -> None:
    """Add the `audit` subcommand and its `verify`, `show` and `diff` commands."""
    parser = subparsers.add_parser(
        "audit",
        help="verify, show or diff set-up audit logs",
        description="Read back the tamper-evident audit logs that set-ups write (trainer_fsm_audit.jsonl).",
    )
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _usage(parser))

    verify = sub.add_parser(
        "verify",
        help="check that audit logs are intact (exit 0), or name the first bad line (exit 3)",
        description=(
            "Check every line of each FILE: canonical JSON, the record's hash, and each run's chain "
            "(seq without gaps, prev = the previous record's hash). Exit 0 intact, 3 not intact, "
            "2 unreadable. Records written with TRAINER_FSM_AUDIT_KEY set are HMAC-keyed and need the "
            "same key to verify."
        ),
    )
    verify.add_argument("files", nargs="+", metavar="FILE", help="audit log(s) to verify")
    verify.add_argument(
        "--key-env",
        metavar="NAME",
        default=_KEY_ENV,
        help="environment variable holding the HMAC key (default: TRAINER_FSM_AUDIT_KEY); never pass a key itself",
    )
    verify.add_argument(
        "--head",
        metavar="HASH",
        help="the hash the last record must have (init.audit.head, kept elsewhere): detects appended records",
    )
    verify.set_defaults(func=run_verify)

    show = sub.add_parser(
        "show",
        help="a timeline of each set-up in an audit log",
        description="Show each run in FILE: who, where, versions, and phase by phase what happened and decided.",
    )
    show.add_argument("file", metavar="FILE", help="an audit log")
    show.add_argument("--run", metavar="ID", help="only the run whose id starts with ID")
    show.add_argument("--key-env", metavar="NAME", default=_KEY_ENV, help=argparse.SUPPRESS)
    show.set_defaults(func=run_show)

    diff = sub.add_parser(
        "diff",
        help="what differs between two set-ups",
        description=(
            "Compare the last run of A with the last run of B (or --run-a/--run-b): config, environment, "
            "what each phase decided, outcomes. Volatile fields (pid, start times, durations, memory) are "
            "hidden unless --all."
        ),
    )
    diff.add_argument("a", metavar="A", help="an audit log")
    diff.add_argument("b", metavar="B", help="another audit log (or the same, with --run-a/--run-b)")
    diff.add_argument("--run-a", metavar="ID", help="the run of A whose id starts with ID (default: the last)")
    diff.add_argument("--run-b", metavar="ID", help="the run of B whose id starts with ID (default: the last)")
    diff.add_argument("--all", action="store_true", help="also show volatile fields (pid, times, durations, memory)")
    diff.set_defaults(func=run_diff)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn read errors into one line on stderr and exit 2; a traceback only with --debug."""

    def run(args: argparse.Namespace) -> int:
        from events.audit import AuditReadError

        try:
            return command(args)
        except (AuditReadError, _KeyEnvUnset) as exc:
            print(f"trainer-fsm audit: {_clean(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        except (OSError, ValueError, RecursionError, MemoryError) as exc:
            if getattr(args, "debug", False):
                raise
            print(
                f"trainer-fsm audit: cannot read the audit log: {type(exc).__name__}: {_clean(str(exc))}",
                file=sys.stderr,
            )
            return EXIT_USAGE

    run.__doc__ = command.__doc__
    run.__name__ = command.__name__
    return run


class _KeyEnvUnset(ValueError):
    """--key-env names a variable that is not set."""


def _key(args: argparse.Namespace) -> str:
    key = os.environ.get(args.key_env, "")
    if not key and args.key_env != _KEY_ENV:
        msg = f"--key-env {args.key_env}: that environment variable is not set (export it, holding the audit key)"
        raise _KeyEnvUnset(msg)
    return key


# ---------------------------------------------------------------- verify


@_guarded
def run_verify(args: argparse.Namespace) -> int:
    """Verify each file; 0 all intact, 3 one is not, 2 one cannot be read."""
    from events.audit import AuditReadError, verify

    worst = EXIT_OK
    key = _key(args)
    for path in args.files:
        try:
            result = verify(path, key=key, expect_head=args.head)
        except AuditReadError as exc:
            print(f"trainer-fsm audit verify: {_clean(str(exc))}", file=sys.stderr)
            worst = max(worst, EXIT_USAGE)
            continue
        if result.ok:
            print(f"{_clean(path)}: {result.summary()}")
            for note in result.notes:
                print(f"  note: {_clean(note)}")
        else:
            print(f"{_clean(path)}: NOT INTACT: {_clean(result.summary())}", file=sys.stderr)
            worst = EXIT_AUDIT
    return worst


# ---------------------------------------------------------------- show


@_guarded
def run_show(args: argparse.Namespace) -> int:
    """Print a timeline table per run, and whether the file verifies."""
    from events.audit import show, verify

    timelines = show(args.file, run=args.run)
    result = verify(args.file, key=_key(args))
    console = _console()
    status = "verified" if result.ok else f"DOES NOT VERIFY: {result.problem}"
    console.print(_text(f"{args.file}: {status}", style="green" if result.ok else "bold red"))
    for timeline in timelines:
        _print_timeline(console, timeline)
    return EXIT_OK


def _print_timeline(console: Console, timeline: RunTimeline) -> None:
    from rich.table import Table

    versions = ", ".join(f"{k} {v}" for k, v in timeline.versions.items() if v)
    header = [
        f"run {timeline.run_id} (rank {timeline.rank}): {timeline.outcome}",
        f"started {timeline.started} on {timeline.host or '?'} by {timeline.user or '?'}",
    ]
    if timeline.duration_s is not None:
        header[0] += f" in {timeline.duration_s:.3f}s"
    if versions:
        header.append(versions)
    table = Table(title=_text("\n".join(header)), title_justify="left", show_lines=False)
    for column, justify in (("seq", "right"), ("phase", "left"), ("attempt", "right"), ("outcome", "left")):
        table.add_column(column, justify=justify, no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("decided / error", overflow="fold")
    styles = {"completed": "green", "Ready": "bold green", "failed": "red", "Failed": "bold red", "rejected": "red"}
    for row in timeline.rows:
        duration = f"{row.duration_s * 1000:.1f} ms" if row.duration_s is not None else ""
        table.add_row(
            _text(str(row.seq)),
            _text(row.phase),
            _text("" if row.attempt is None else str(row.attempt)),
            _text(row.outcome, style=styles.get(row.outcome, "yellow")),
            _text(duration),
            _text(row.decided),
        )
    console.print(table)
    for problem in timeline.problems:
        console.print(_text(f"  unreadable {problem}", style="red"))


# ---------------------------------------------------------------- diff


@_guarded
def run_diff(args: argparse.Namespace) -> int:
    """Print what differs between the two set-ups."""
    from events.audit import diff

    result = diff(args.a, args.b, run_a=args.run_a, run_b=args.run_b, show_volatile=args.all)
    _print_diff(_console(), result)
    return EXIT_OK


def _print_diff(console: Console, result: AuditDiff) -> None:
    from rich.table import Table

    title = f"A: {result.path_a} (run {result.run_a})\nB: {result.path_b} (run {result.run_b})"
    hidden = f"; {result.hidden} volatile field(s) hidden (--all shows them)" if result.hidden else ""
    if not result.differences:
        console.print(_text(f"{title}\nno differences{hidden}"))
        return
    console.print(_text(title))
    table = Table()
    table.add_column("section", no_wrap=True)
    table.add_column("field", overflow="fold")
    table.add_column("A", overflow="fold")
    table.add_column("B", overflow="fold")
    for d in result.differences:
        table.add_row(_text(d.section), _text(d.key), _text(_value(d.a)), _text(_value(d.b)))
    console.print(table)
    console.print(_text(f"{len(result.differences)} difference(s){hidden}"))


def _value(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


# ---------------------------------------------------------------- output

# Control characters (ANSI escapes included) from a hostile log must not reach a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text(text: str, style: str = "") -> Any:
    """Literal text for rich (no markup: a log may hold [brackets]), control chars escaped."""
    from rich.text import Text

    return Text(_clean(text), style=style)


def _console(stream: IO[str] | None = None) -> Console:
    from rich.console import Console

    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return Console(file=stream, markup=False, highlight=False)
    return Console(file=stream, force_terminal=False, no_color=True, width=160, markup=False, highlight=False)
