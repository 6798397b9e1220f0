"""What every measurement shares: result rows, timing loops, models of set sizes.

Timings are never reported alone: each measurement runs its subject and its anchor
(transformers' Trainer, a hand-written script, a bare import) in the same run,
interleaved, and reports medians and their ratio.
"""

from __future__ import annotations

import functools
import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Row",
    "Section",
    "Settings",
    "audit_supported",
    "build_stack",
    "format_value",
    "fsm_kwargs",
    "has_transformers",
    "interleaved",
    "median",
    "model_bytes",
    "paired_median_difference",
    "reset_accelerate",
]


@dataclass(frozen=True)
class Settings:
    """How hard to measure: `quick` for the smoke test (seconds), else the full suite."""

    quick: bool = False

    def reps(self, full: int, quick: int = 1) -> int:
        """Repetitions for a loop: `full` normally, `quick` in quick mode."""
        return quick if self.quick else full

    def transformers_anchor(self) -> str | None:
        """Why the transformers anchors are skipped, or None when they run.

        They need transformers installed, and they are left out of quick mode: importing
        transformers alone takes seconds.
        """
        if self.quick:
            return "skipped in --quick (transformers takes seconds to import)"
        if not has_transformers():
            return "transformers is not installed: pip install -e '.[bench]'"
        return None


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    Attributes:
        key: stable identifier, e.g. ``"setup.all_on_vs_trainer"``.
        what: what was measured, for a reader.
        value: the figure (a ratio, milliseconds, a rate), or None when not measured.
        unit: how to print `value`: ``"x"`` (ratio), ``"ms"``, ``"/s"``, ``"us"``, ``"MB"``.
        target: the target as text (``"<= 1.00x"``), or ``""`` when informational.
        met: True/False against the target; None when there is no target or no value.
        note: one short line (the anchor's figure, or why it was not measured).
    """

    key: str
    what: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def status(self) -> str:
        """``"met"``, ``"NOT MET"``, ``"n/a"`` (not measured) or ``"-"`` (no target)."""
        if self.value is None:
            return "n/a"
        if self.met is None:
            return "-"
        return "met" if self.met else "NOT MET"

    def formatted(self) -> str:
        """`value` with its unit, e.g. ``"0.42x"``, ``"3.1 ms"``, ``"512,000/s"``."""
        return format_value(self.value, self.unit)

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-able data."""
        return {
            "key": self.key,
            "what": self.what,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "status": self.status,
            "note": self.note,
        }


def format_value(value: float | None, unit: str) -> str:
    """A figure with its unit, at a precision that suits it."""
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.3f}x" if abs(value) < 0.1 else f"{value:.2f}x"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit in ("ms", "us", "MB", "s"):
        return f"{value:,.3f} {unit}" if abs(value) < 1 else f"{value:,.2f} {unit}"
    return f"{value:g} {unit}".strip()


@dataclass
class Section:
    """The result of one measurement: its rows and the details behind them (markdown)."""

    number: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The section as JSON-able data."""
        return {
            "number": self.number,
            "title": self.title,
            "rows": [r.to_dict() for r in self.rows],
            "details": list(self.details),
            "raw": self.raw,
        }


def median(values: list[float]) -> float:
    """The median of `values` (which must not be empty)."""
    return statistics.median(values)


def reset_accelerate() -> None:
    """Forget accelerate's process-wide singletons, so the next set-up builds them anew.

    `PartialState`, `AcceleratorState` and `GradientState` share their state across
    instances; without a reset a second Accelerator reuses the first one's state (as
    tests/conftest.py does between tests).
    """
    from accelerate.state import AcceleratorState, GradientState, PartialState

    for shared in (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state):
        shared.clear()


def interleaved(
    subjects: Mapping[str, Callable[[], Any]],
    reps: int,
    *,
    warmup: int = 2,
    before_each: Callable[[], None] | None = reset_accelerate,
) -> dict[str, list[float]]:
    """Time each subject `reps` times, round-robin, and return the seconds of every call.

    Round-robin order spreads the machine's noise (other processes, frequency changes)
    evenly over the subjects, so their medians can be compared. `before_each` runs
    untimed before every call (by default it resets accelerate's singletons); a
    garbage collection runs untimed too.
    """
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for rep in range(warmup + reps):
        for name, fn in subjects.items():
            if before_each is not None:
                before_each()
            gc.collect()
            started = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - started
            del result
            if rep >= warmup:
                times[name].append(elapsed)
    if before_each is not None:
        before_each()
    return times


def paired_median_difference(a: list[float], b: list[float]) -> float:
    """Median of ``a[i] - b[i]`` over repetitions timed side by side."""
    return statistics.median(x - y for x, y in zip(a, b, strict=True))


def build_stack(width: int, depth: int) -> Any:
    """A stack of `depth` Linear(width, width) layers with ReLUs: a model of a chosen size.

    Its forward takes ``x`` and ``labels`` and returns ``{"loss", "logits"}``, like the
    demo models, so every phase (introspection included) has something to read.
    """
    import torch
    from torch import nn

    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.Linear(width, width), nn.ReLU()]
            self.net = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
            out = self.net(x)
            loss = nn.functional.mse_loss(out, labels) if labels is not None else None
            return {"loss": loss, "logits": out}

    return Stack()


def model_bytes(model: Any) -> int:
    """Bytes held by the model's parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def has_transformers() -> bool:
    """Whether transformers (the Trainer anchor) can be imported."""
    import importlib.util

    return importlib.util.find_spec("transformers") is not None


def fsm_kwargs(*, log: Any, audit: bool) -> dict[str, Any]:
    """`TrainerInit` keywords that switch the structlog subscriber and the audit log.

    The audit log is on by default, so ``audit=True`` passes nothing; ``audit=False``
    passes ``audit=False`` when `TrainerInit` has that keyword (the audit log may not
    be part of this checkout, and then there is no audit sink to switch off).
    """
    kwargs: dict[str, Any] = {"log": log}
    if not audit and audit_supported():
        kwargs["audit"] = False
    return kwargs


@functools.lru_cache(maxsize=1)
def audit_supported() -> bool:
    """Whether `TrainerInit` takes an ``audit`` keyword (asked once: the timed loops call it)."""
    import inspect

    from fsm import TrainerInit

    return "audit" in inspect.signature(TrainerInit.__init__).parameters
