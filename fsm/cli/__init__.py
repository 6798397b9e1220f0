"""The `trainer-fsm` command. Each subcommand lives in its own module of this package
and exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a
function ``(args) -> int`` returning the exit code).

Exit codes: 0 Ready / success; 1 a phase failed; 2 usage error or config rejected;
3 an audit log that does not verify.

`main` turns the errors a user can cause into a message and an exit code, never a
traceback: `ConfigError` (and a bad config file) exits 2, any other `TrainerFsmError`
exits 1, `CliError` exits with its own code. ``--debug`` (before or after the
subcommand) prints the traceback as well.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import traceback
from collections.abc import Sequence

from fsm.exceptions import ConfigError, TrainerFsmError

__all__ = ["EXIT_AUDIT", "EXIT_OK", "EXIT_PHASE_FAILED", "EXIT_USAGE", "CliError", "build_parser", "main"]

EXIT_OK = 0
EXIT_PHASE_FAILED = 1
EXIT_USAGE = 2
EXIT_AUDIT = 3


class CliError(TrainerFsmError):
    """Raised by a subcommand for a problem it has explained in `message`; exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
    _add_debug(sub)
    return parser


def _add_debug(sub: argparse._SubParsersAction) -> None:
    """Accept ``--debug`` after any subcommand too (``trainer-fsm audit verify F --debug``)."""
    for subparser in sub.choices.values():
        with contextlib.suppress(argparse.ArgumentError):  # the subcommand has its own
            subparser.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
            )
        for action in subparser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug(action)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `trainer-fsm`; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        _error("interrupted", debug=debug)
        return 130
    except CliError as exc:
        _error(str(exc), debug=debug)
        return exc.exit_code
    except ConfigError as exc:
        _error(str(exc), debug=debug)
        return EXIT_USAGE
    except TrainerFsmError as exc:
        _error(str(exc), debug=debug)
        return EXIT_PHASE_FAILED
    except Exception as exc:
        _error(f"{type(exc).__name__}: {exc}", debug=debug, unexpected=True)
        return EXIT_PHASE_FAILED


def _error(message: str, *, debug: bool, unexpected: bool = False) -> None:
    """Print `message` (secrets scrubbed) on standard error; the traceback too with --debug."""
    from events.redact import scrub_text

    if debug:
        traceback.print_exc()
    elif unexpected:
        message += "\n(run with --debug to see the traceback)"
    print(f"error: {scrub_text(message)}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
