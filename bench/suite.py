"""The suite: every measurement in order, run one after another, failures kept apart."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from typing import Any

from bench._core import Row, Section, Settings

__all__ = ["MEASUREMENTS", "run_all"]


def _module_runner(module: str) -> Callable[[Settings], Section]:
    def runner(settings: Settings) -> Section:
        import importlib

        return importlib.import_module(f"bench.{module}").run(settings)

    return runner


def _external_runner(name: str) -> Callable[[Settings], Section]:
    def runner(settings: Settings) -> Section:
        from bench._external import run_external

        return run_external(name, settings)

    return runner


MEASUREMENTS: dict[str, Callable[[Settings], Section]] = {
    "setup": _module_runner("bench_setup"),
    "overhead": _module_runner("bench_overhead"),
    "cold_start": _module_runner("bench_cold_start"),
    "recovery": _module_runner("bench_recovery"),
    "events": _module_runner("bench_events"),
    "validate": _external_runner("validate"),
    "audit": _external_runner("audit"),
    "memory": _module_runner("bench_memory"),
    "profile": _module_runner("profiling"),
}
"""Every measurement by name, in the order the suite runs them."""


def run_all(
    settings: Settings | None = None,
    *,
    only: Iterable[str] | None = None,
    progress: Callable[[str], Any] | None = None,
) -> list[Section]:
    """Run the measurements (all, or those named in `only`) and return their sections.

    A measurement that raises does not stop the others: its section holds one row
    with no value and the error, and its details hold the traceback.
    """
    settings = settings or Settings()
    names = list(MEASUREMENTS) if only is None else list(only)
    unknown = [n for n in names if n not in MEASUREMENTS]
    if unknown:
        msg = f"unknown measurement(s) {unknown}; choose from {', '.join(MEASUREMENTS)}"
        raise ValueError(msg)
    sections = []
    for name in names:
        if progress is not None:
            progress(name)
        try:
            sections.append(MEASUREMENTS[name](settings))
        except Exception as exc:  # a broken measurement is reported, the rest still run
            section = Section("!", f"{name}: failed")
            section.rows.append(Row(f"{name}.error", f"{name} raised", None, "", note=f"{type(exc).__name__}: {exc}"))
            section.details += ["```", traceback.format_exc().rstrip(), "```"]
            section.raw = {"error": f"{type(exc).__name__}: {exc}"}
            sections.append(section)
    return sections
