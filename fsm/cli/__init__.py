"""The `trainer-fsm` command. Each subcommand lives in its own module of this package
and exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a
function ``(args) -> int`` returning the exit code).

Exit codes: 0 Ready / success; 1 a phase failed; 2 usage error or config rejected;
3 an audit log that does not verify.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["EXIT_AUDIT", "EXIT_OK", "EXIT_PHASE_FAILED", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_PHASE_FAILED = 1
EXIT_USAGE = 2
EXIT_AUDIT = 3

# Subcommand modules, in the order `--help` lists them.
_COMMANDS = ("init", "validate", "graph", "audit")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand that is installed."""
    parser = argparse.ArgumentParser(
        prog="trainer-fsm",
        description="Set up a training run as an event-driven state machine.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"fsm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"fsm.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `trainer-fsm`; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
