"""What the audit log costs: records per second, and the time it adds to a full set-up.

    python bench/bench_audit.py            # prints the figures as JSON
    python bench/bench_audit.py --quick    # a few repetitions: checks that it runs

`run()` returns a dict of plain figures:

* ``records_per_s``: records the sink builds (redact, canonical JSON, SHA-256, chain) and
  appends to its file, fsyncing where a real run does (PhaseFailed, InitReady, InitFailed);
  the events replayed are those of a real set-up, so the mix (one large InitStarted with
  config and environment, many small phase events) is the real one;
* ``records_per_s_no_fsync``: the same without fsync (what the disk's sync costs);
* ``verify_records_per_s``: records `verify` checks per second;
* ``setup_s_audit_off`` / ``setup_s_audit_on``: median wall time of a full CPU set-up
  (tiny MLP) without and with the default sink, alternated so that drift hits both;
* ``added_s_per_setup``: the difference, and ``added_fraction`` relative to off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]


def _events_of_one_set_up(workdir: Path) -> list[Any]:
    from events.testing import capture_events
    from fsm import InitConfig, TrainerInit
    from fsm.demo import demo_inputs

    with capture_events() as events:
        TrainerInit(
            InitConfig(output_dir=str(workdir / "capture"), use_cpu=True),
            **demo_inputs("mlp", samples=64),
            log=False,
            audit=False,
        ).run()
    return list(events)


def _records_per_s(events: list[Any], workdir: Path, *, rounds: int, fsync: bool) -> float:
    from events.audit import AuditSink

    total, elapsed = 0, 0.0
    for i in range(rounds):
        sink = AuditSink(workdir / f"records_{fsync}_{i}.jsonl", key="", fsync=fsync)
        started = time.perf_counter()
        for event in events:
            sink(event)
        elapsed += time.perf_counter() - started
        total += len(events)
    return total / elapsed


def _verify_per_s(path: Path, *, rounds: int) -> float:
    from events.audit import verify

    started = time.perf_counter()
    count = 0
    for _ in range(rounds):
        count += verify(path, key="").records
    return count / (time.perf_counter() - started)


def _setup_times(workdir: Path, *, repeats: int) -> tuple[list[float], list[float]]:
    from fsm import InitConfig, TrainerInit
    from fsm.demo import demo_inputs

    inputs = demo_inputs("mlp", samples=64)
    off: list[float] = []
    on: list[float] = []
    for i in range(repeats + 1):
        for audit, times in ((False, off), (True, on)):
            config = InitConfig(output_dir=str(workdir / f"setup_{audit}_{i}"), use_cpu=True)
            started = time.perf_counter()
            TrainerInit(config, **inputs, log=False, audit=audit).run()
            if i:  # the first round warms imports and caches up
                times.append(time.perf_counter() - started)
    return off, on


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure the audit sink; returns the figures described in the module docstring."""
    rounds, repeats = (3, 3) if quick else (40, 25)
    key_was = os.environ.pop("TRAINER_FSM_AUDIT_KEY", None)  # measure the default, unkeyed chain
    try:
        with tempfile.TemporaryDirectory(prefix="bench_audit_") as tmp:
            workdir = Path(tmp)
            events = _events_of_one_set_up(workdir)
            per_s = _records_per_s(events, workdir, rounds=rounds, fsync=True)
            per_s_no_fsync = _records_per_s(events, workdir, rounds=rounds, fsync=False)
            verify_per_s = _verify_per_s(workdir / "records_True_0.jsonl", rounds=rounds)
            off, on = _setup_times(workdir, repeats=repeats)
    finally:
        if key_was is not None:
            os.environ["TRAINER_FSM_AUDIT_KEY"] = key_was
    median_off, median_on = statistics.median(off), statistics.median(on)
    return {
        "records_per_setup": len(events),
        "records_per_s": round(per_s, 1),
        "records_per_s_no_fsync": round(per_s_no_fsync, 1),
        "verify_records_per_s": round(verify_per_s, 1),
        "setup_s_audit_off": round(median_off, 6),
        "setup_s_audit_on": round(median_on, 6),
        "added_s_per_setup": round(median_on - median_off, 6),
        "added_fraction": round((median_on - median_off) / median_off, 4),
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the audit log's cost.")
    parser.add_argument("--quick", action="store_true", help="a few repetitions only")
    args = parser.parse_args(argv)
    print(json.dumps(run(quick=args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout
    raise SystemExit(main())
