"""Benchmarks written as standalone modules (``def run() -> dict``), folded into the suite.

`bench/bench_validate.py` (guards: microseconds per validate) and `bench/bench_audit.py`
(audit records/s, added time per set-up) are owned by the engineers of those features.
Their dicts are turned into rows: a nested dict becomes dotted keys; a dict with a
``value`` (and optional ``unit``, ``target``, ``met``, ``what``) a row as it says; a
number whose name gives its unit (``_per_s``, ``_us``, ``_ms``, ``_fraction``) an
informational row; other numbers (counts, repetitions) stay in the details. The audit
module's ``records_per_s`` gets the suite's target (>= 20,000 records/s).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

from bench._core import Row, Section, Settings, format_value

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


_AUDIT_ROWS: dict[str, tuple[str, str]] = {
    "records_per_s": ("audit records/s (redact, canonical JSON, SHA-256 chain, append, fsync where a run does)", "/s"),
    "records_per_s_no_fsync": ("audit records/s without fsync", "/s"),
    "verify_records_per_s": ("audit verify: records checked/s", "/s"),
    "added_s_per_setup": ("time the audit log adds to a set-up (tiny MLP)", "ms"),
    "added_fraction": ("time the audit log adds / a set-up with audit off", "x"),
}
"""How bench_audit's figures are shown: label and unit (seconds are shown in ms)."""


def _unit_for(key: str) -> str | None:
    """The unit a figure's name implies; None when it names a count or a setting."""
    lowered = key.lower()
    if lowered.endswith("_per_s") or "_per_s_" in lowered:
        return "/s"
    if lowered.endswith("_us"):
        return "us"
    if lowered.endswith("_ms"):
        return "ms"
    if lowered.endswith(("_ratio", "_fraction")):
        return "x"
    return None


def rows_from(name: str, result: Any) -> list[Row]:
    """Rows for a standalone module's result dict (plain counts stay in the details)."""
    rows = []
    for key, value in _flatten(result).items():
        row_key = f"{name}.{key}"
        if isinstance(value, dict):
            number = value.get("value")
            unit = value.get("unit") or _unit_for(key) or ""
            target = str(value.get("target", ""))
            met = value.get("met")
            what = str(value.get("what", key.replace("_", " ")))
            rows.append(Row(row_key, what, float(number) if number is not None else None, unit, target, met))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        what, unit = key.replace("_", " "), _unit_for(key)
        if name == "audit" and key in _AUDIT_ROWS:
            what, unit = _AUDIT_ROWS[key]
            if unit == "ms":
                value = value * 1e3
        if unit is None:
            continue
        target, met = "", None
        if name == "audit" and key == "records_per_s":
            target, met = f">= {AUDIT_RATE_TARGET:,}/s", value >= AUDIT_RATE_TARGET
        rows.append(Row(row_key, what, float(value), unit, target, met))
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
    for key, value in _flatten(section.raw).items():
        if isinstance(value, dict) and "value" in value:
            shown = format_value(value["value"], str(value.get("unit", "")))
            target = f" (target {value['target']})" if value.get("target") else ""
            section.details.append(f"- `{key}`: {value.get('what', key)}: {shown}{target}")
        else:
            section.details.append(f"- `{key}`: {value!r}")
    return section
