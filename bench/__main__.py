"""``python -m bench``: run every measurement, print the table, write bench/RESULTS.md.

python -m bench                 # the full suite (under 10 minutes on 2 cores)
python -m bench --quick         # a tiny run (seconds) that checks the suite works
python -m bench --only setup events
python -m bench --json results.json --output /tmp/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench._core import Settings
from bench.notes import missed_notes
from bench.report import OtherLoad, machine_info, render_markdown, render_table
from bench.suite import MEASUREMENTS, run_all

__all__ = ["main"]

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of trainer-fsm against transformers' Trainer and a hand-written set-up.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one repetition: checks the suite runs")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(MEASUREMENTS), help="run only these")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the markdown results (default: bench/RESULTS.md; with --quick, nowhere)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON here")
    return parser


_MARKDOWN_HEADING = "# trainer-fsm benchmark results"


def _ours(path: Path, kind: str) -> bool:
    """Whether `path` holds results this command wrote (so it may be replaced)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if kind == "markdown":
        return text.startswith(_MARKDOWN_HEADING)
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and str(data.get("command", "")).startswith("python -m bench")


def _check_outputs(parser: argparse.ArgumentParser, output: Path | None, json_path: Path | None) -> None:
    """Refuse, before measuring anything, to replace a file this command did not write."""
    for option, path, kind in (("--output", output, "markdown"), ("--json", json_path, "json")):
        if path is None:
            continue
        if path.is_dir():
            parser.error(f"{option} {path} is a directory; give a file path, e.g. {path / 'RESULTS.md'}")
        if path.exists() and not _ours(path, kind):
            parser.error(
                f"{option} {path} exists and was not written by `python -m bench`; "
                "choose another path (the file is left as it is)"
            )


def main(argv: list[str] | None = None) -> int:
    """Run the suite; returns 0, or 1 when a measurement itself failed (a missed target is not a failure)."""
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings(quick=args.quick)
    output = args.output if args.output is not None else (None if args.quick else DEFAULT_OUTPUT)
    _check_outputs(parser, output, args.json)
    command = "python -m bench" + "".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:]))
    machine = machine_info()
    others = OtherLoad()
    started_at, started = datetime.now(timezone.utc), time.perf_counter()

    def progress(name: str) -> None:
        print(f"[bench] {name} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    sections = run_all(settings, only=args.only, progress=progress)
    elapsed = time.perf_counter() - started
    load_after = machine_info()["load"]
    other_cores = others.cores()
    print(render_table(sections))
    busy = f"; other processes kept {other_cores:.2f} cores busy" if other_cores is not None else ""
    quick = " (quick mode: sizes and repetitions too small for real figures)" if args.quick else ""
    print(f"\n{elapsed:.0f} s{busy}{quick}")
    if output is not None:
        text = render_markdown(
            sections,
            command=command,
            started=started_at,
            elapsed_s=elapsed,
            machine=machine,
            load_after=load_after,
            notes=missed_notes(sections),
            other_cores=other_cores,
        )
        output.write_text(text, encoding="utf-8")
        print(f"results written to {output}")
    if args.json is not None:
        data = {
            "command": command,
            "elapsed_s": elapsed,
            "other_cores": other_cores,
            "sections": [s.to_dict() for s in sections],
        }
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if any(s.number == "!" for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
