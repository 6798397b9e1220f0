"""`trainer-fsm validate CONFIG`: run the guards on a config file, and nothing else.

The file is read, its factories are imported and those that build an input are called
(in memory: `model_init` is not called), and every static rule runs (`fsm.validate`).
No phase runs: no seed is set, no accelerator built, no directory or file created.
Exit 0 when the set-up may start, 2 when it is rejected (every violation is listed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fsm.cli import EXIT_OK, EXIT_USAGE
from fsm.cli._config_file import load_config

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the `validate` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check a config file with the guards; nothing is created",
        description=(
            "Run every static guard rule on CONFIG and list each violation with its rule id and a hint. "
            "Nothing is created. Exit 0 valid, 2 rejected."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="a .yaml/.yml or .json config file")
    parser.add_argument("--json", action="store_true", help="print the violations as a JSON list")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the file; returns the exit code."""
    from fsm.guards import rules_for, validate

    file = load_config(args.config)
    inputs = file.build_inputs()
    violations = validate(file.config, **inputs)
    if args.json:
        print(json.dumps([v.to_dict() for v in violations], indent=2))
        return EXIT_USAGE if violations else EXIT_OK
    if not violations:
        checked = sum(1 for _ in rules_for(None))
        print(
            f"{file.source}: valid ({checked} static rules passed). Rules that need an earlier phase's "
            "result (the device, the world size, the forward signature) run during `trainer-fsm init`."
        )
        return EXIT_OK
    n = len(violations)
    print(f"{file.source}: rejected, {n} problem{'s' if n != 1 else ''} found (nothing was created):", file=sys.stderr)
    for i, v in enumerate(violations, 1):
        fields = f" ({', '.join(v.fields)})" if v.fields else ""
        print(f"  {i}. [{v.rule}]{fields} {v.message}\n     fix: {v.hint}", file=sys.stderr)
    return EXIT_USAGE
