"""Benchmarks of trainer-fsm against what users would use instead.

Run them all with ``python -m bench`` (``--quick`` for a tiny check run); the figures
land in bench/RESULTS.md. Each measurement is a module with ``run(settings) ->
Section``; `run_all` runs them in order.

    from bench import Settings, run_all

    for section in run_all(Settings(quick=True), only=["events"]):
        print(section.rows)
"""

from __future__ import annotations

from bench._core import Row, Section, Settings
from bench.suite import MEASUREMENTS, run_all

__all__ = ["MEASUREMENTS", "Row", "Section", "Settings", "run_all"]
