"""Benchmarks written as standalone modules (``def run() -> dict``), folded into the suite.

`bench/bench_validate.py` (guards: microseconds per validate) and `bench/bench_audit.py`
(audit records/s, added time per set-up) are owned by the engineers of those features.
Their dicts are turned into rows: a nested dict becomes dotted keys, a number an
informational row, and a dict with a ``value`` (and optional ``unit``, ``target``,
``met``) a row as it says. A rate of audit records per second gets the suite's target
(>= 20,000 records/s) unless the module sets one.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

from bench._core import Row, Section, Settings

__all__ = ["EXTERNAL", "run_external"]

EXTERNAL: dict[str, tuple[str, str]] = {
    "validate": ("5b", "Guards: the cost of validate (bench/bench_validate.py)"),
    "audit": ("5c", "Audit log: records per second and added time per set-up (bench/bench_audit.py)"),
}
"""Standalone modules by name (``bench.bench_<name>``): section number and title."""

AUDIT_RATE_TARGET = 20_000


def available(name: str) -> bool:
    """Whether ``bench/bench_<name>.py`` exists in this checkout."""
    return importlib.util.find_spec(f"bench.bench_{name}") is not None


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and not ("value" in data and not isinstance(data["value"], dict)):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def _unit_for(key: str) -> str:
    lowered = key.lower()
    if "per_s" in lowered or "_per_sec" in lowered or lowered.endswith("/s") or "per_second" in lowered:
        return "/s"
    if lowered.endswith(("_us", "_µs", "microseconds")):
        return "us"
    if lowered.endswith(("_ms", "milliseconds")):
        return "ms"
    if lowered.endswith(("_s", "seconds")):
        return "s"
    if "ratio" in lowered or lowered.endswith("_x"):
        return "x"
    return ""


def rows_from(name: str, result: Any) -> list[Row]:
    """Rows for a standalone module's result dict."""
    rows = []
    for key, value in _flatten(result).items():
        row_key = f"{name}.{key}"
        if isinstance(value, dict):
            number = value.get("value")
            unit = value.get("unit", _unit_for(key))
            target = str(value.get("target", ""))
            met = value.get("met")
            what = str(value.get("what", key.replace("_", " ")))
            rows.append(Row(row_key, what, float(number) if number is not None else None, unit, target, met))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        unit = _unit_for(key)
        target, met = "", None
        if name == "audit" and unit == "/s" and "record" in key.lower():
            target, met = f">= {AUDIT_RATE_TARGET:,}/s", value >= AUDIT_RATE_TARGET
        rows.append(Row(row_key, key.replace("_", " "), float(value), unit, target, met))
    return rows


def run_external(name: str, settings: Settings) -> Section:
    """Run ``bench.bench_<name>.run()`` and fold its dict into a section."""
    number, title = EXTERNAL[name]
    section = Section(number, title)
    if not available(name):
        note = f"bench/bench_{name}.py is not in this checkout yet"
        section.rows.append(Row(f"{name}.missing", title, None, "", note=note))
        return section
    module = importlib.import_module(f"bench.bench_{name}")
    parameters = inspect.signature(module.run).parameters
    result = module.run(quick=settings.quick) if "quick" in parameters else module.run()
    section.raw = result if isinstance(result, dict) else {"result": repr(result)}
    section.rows = rows_from(name, result)
    if not section.rows:
        section.rows.append(Row(f"{name}.empty", title, None, "", note="run() returned no figures"))
    section.details.append(f"As returned by `bench.bench_{name}.run()`:")
    section.details.append("")
    section.details += [f"- `{key}`: {value!r}" for key, value in _flatten(section.raw).items()]
    return section
