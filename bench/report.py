"""The results table (terminal) and bench/RESULTS.md (markdown), from the sections."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench._core import Row, Section

__all__ = ["OtherLoad", "machine_info", "render_markdown", "render_table", "versions"]

_REPO = Path(__file__).resolve().parents[1]


def render_table(sections: list[Section]) -> str:
    """A plain-text table: one line per row, with value, target and met / NOT MET."""
    header = ("#", "measurement", "value", "target", "status")
    lines: list[tuple[str, ...]] = [header]
    for section in sections:
        for row in section.rows:
            lines.append((section.number, row.what, row.formatted(), row.target or "-", row.status))
    widths = [min(max(len(line[i]) for line in lines), 78 if i == 1 else 40) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [cell if len(cell) <= widths[i] else cell[: widths[i] - 1] + "~" for i, cell in enumerate(line)]
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _markdown_row(number: str, row: Row) -> str:
    status = {"met": "met", "NOT MET": "**NOT MET**"}.get(row.status, row.status)
    cells = [number, row.what, row.formatted(), row.target or "-", status, row.note or ""]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown_table(sections: list[Section]) -> list[str]:
    """The summary table as markdown lines."""
    lines = ["| # | measurement | value | target | status | note |", "|---|---|---:|---|---|---|"]
    for section in sections:
        lines += [_markdown_row(section.number, row) for row in section.rows]
    return lines


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, platform and load of the machine running the suite."""
    cpu = platform.processor() or platform.machine()
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = None
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
            break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": memory,
        "platform": platform.platform(),
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


class OtherLoad:
    """How many cores other processes kept busy while the suite ran (Linux; else None).

    The machine's busy CPU time (``/proc/stat``) minus this process's and its children's
    (``os.times()``), over the wall time: the load average cannot tell the suite's own
    work from the others'.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        first = _read("/proc/stat").splitlines()[:1]
        if not first or not first[0].startswith("cpu "):
            return None
        ticks = [int(x) for x in first[0].split()[1:]]
        busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # minus idle and iowait
        mine = os.times()
        own = mine.user + mine.system + mine.children_user + mine.children_system
        return busy / os.sysconf("SC_CLK_TCK"), own, time.monotonic()

    def cores(self) -> float | None:
        """Average cores used by other processes since this object was made."""
        end = self._sample()
        if self._start is None or end is None or end[2] <= self._start[2]:
            return None
        busy, own, wall = (end[i] - self._start[i] for i in range(3))
        return max(0.0, (busy - own) / wall)


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages the figures depend on, and the git commit."""
    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for package in ("trainer-fsm", "torch", "accelerate", "transformers", "transitions", "structlog", "pyinstrument"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        found["git commit"] = commit + (" (with uncommitted changes in the working tree)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        found["git commit"] = None
    return found


def _load(load: Any) -> str:
    return ", ".join(f"{x:.2f}" for x in load) if load else "unknown"


def render_markdown(
    sections: list[Section],
    *,
    command: str,
    started: datetime,
    elapsed_s: float,
    machine: dict[str, Any],
    load_after: Any,
    notes: list[str],
    other_cores: float | None = None,
) -> str:
    """The whole of bench/RESULTS.md."""
    stamp = started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    memory = machine["memory_bytes"]
    lines = [
        "# trainer-fsm benchmark results",
        "",
        "<!-- Generated by `python -m bench`; edit bench/, not this file. -->",
        "",
        f"Made by `{command}` on {stamp}, in {elapsed_s:.0f} s.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}; {machine['cores']} cores ({machine['usable_cores']} usable by this process)",
        f"- memory: {memory / 2**30:.1f} GiB" if memory else "- memory: unknown",
        f"- platform: {machine['platform']}",
        f"- load average (1, 5, 15 min) at the start: {_load(machine['load'])}; at the end: {_load(load_after)}",
        "- other processes kept "
        + (f"{other_cores:.2f} cores busy on average during the run" if other_cores is not None else "an unknown load")
        + " (the machine's busy CPU time minus the suite's own)",
        "",
        "## Versions",
        "",
    ]
    lines += [f"- {name}: {value or 'not installed'}" for name, value in versions().items()]
    lines += [
        "",
        "## Results",
        "",
        "Every figure is a median over repeated runs, and each is set against its anchor",
        "measured in the same run (a ratio, or a difference of paired timings): absolute",
        "times move with the machine's load, the ratios much less.",
        "",
    ]
    cores = machine["usable_cores"] or 1
    if other_cores is not None and other_cores > 0.25:
        lines += [
            f"**The machine was busy during this run**: other processes kept {other_cores:.2f} of "
            f"its {cores} cores busy on average, competing with the suite. Absolute times are "
            "inflated, and so are the figures that depend on them alone (events/s, audit "
            "records/s, milliseconds added per set-up, where trainer-fsm's extra work includes "
            "spawning processes); ratios of subjects timed side by side are less affected.",
            "",
        ]
    lines += markdown_table(sections)
    if notes:
        lines += ["", "## Targets missed: why, and what would close the gap", ""]
        lines += notes
    lines += ["", "## Details", ""]
    for section in sections:
        if not section.details:
            continue
        lines += [f"### {section.number}. {section.title}", "", *section.details, ""]
    return "\n".join(lines).rstrip() + "\n"
