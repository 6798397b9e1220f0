"""What `trainer-fsm init` shows while the eleven phases run, and the summary after.

`PhaseBoard` is a bus subscriber that keeps the state of every phase (pending, running,
done, retried, failed), its duration and what it decided (a short text made from the
phase's fact event). Three renderers consume it:

* `LiveDisplay`: a rich live table, with a spinner and the elapsed time of the running
  phase (when standard output is a terminal);
* `PlainDisplay`: one line per finished, failed or retried phase (a pipe, a log file,
  or ``--plain``);
* `JsonDisplay`: every event as one JSON line, redacted (``--json``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from events.redact import redact
from events.types import (
    AcceleratorReady,
    ArgumentsStored,
    CallbacksRegistered,
    Event,
    FactEvent,
    Finalized,
    GuardRejected,
    InitReady,
    ModelIntrospected,
    ModelPlaced,
    ModelResolved,
    OutputPrepared,
    PhaseCompleted,
    PhaseFailed,
    PhaseRetrying,
    PhaseStarted,
    SeedSet,
    StateInitialized,
    StrategyResolved,
)
from fsm.phases import PHASES

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

__all__ = [
    "JsonDisplay",
    "LiveDisplay",
    "PhaseBoard",
    "PhaseRow",
    "PlainDisplay",
    "decision_of",
    "live_table",
    "make_console",
    "summary_table",
]

PENDING, RUNNING, DONE, RETRYING, FAILED, REJECTED = "pending", "running", "done", "retrying", "failed", "rejected"


@dataclass
class PhaseRow:
    """The progress of one phase as the display shows it."""

    index: int
    trigger: str
    dest: str
    status: str = PENDING
    attempts: int = 0
    started: float | None = None
    duration_s: float | None = None
    decision: str = ""
    error: str = ""

    @property
    def retried(self) -> bool:
        """Whether the phase needed more than one attempt."""
        return self.attempts > 1


class PhaseBoard:
    """Subscribe it to ``"*"``; it keeps one `PhaseRow` per phase, in run order."""

    def __init__(self) -> None:
        self.rows: dict[str, PhaseRow] = {p.trigger: PhaseRow(p.index + 1, p.trigger, p.dest) for p in PHASES}
        self.total_s: float | None = None
        self.run_id: str = ""

    def __call__(self, event: Event) -> None:
        self.run_id = event.run_id or self.run_id
        if isinstance(event, InitReady):
            self.total_s = event.duration_s
        row = self.rows.get(event.phase or "")
        if row is None:
            return
        if isinstance(event, PhaseStarted):
            row.status, row.attempts, row.started = RUNNING, event.attempt, event.monotonic
            row.error = ""
        elif isinstance(event, FactEvent):
            row.decision = decision_of(event)
        elif isinstance(event, PhaseCompleted):
            row.status, row.duration_s = DONE, event.duration_s
        elif isinstance(event, PhaseFailed):
            row.status = FAILED if event.final else RETRYING
            row.duration_s = event.duration_s
            row.error = f"{event.error_type}: {event.error}"
        elif isinstance(event, GuardRejected):  # a rule on this phase's transition said no
            row.status = REJECTED
            row.error = "by " + ", ".join(str(v.get("rule", "?")) for v in event.violations)

    def elapsed(self, row: PhaseRow) -> float | None:
        """Seconds the phase has taken so far (running) or took (finished)."""
        if row.status == RUNNING and row.started is not None:
            return time.monotonic() - row.started
        return row.duration_s


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def decision_of(event: FactEvent) -> str:
    """A short text of what a phase decided, from its fact event."""
    if isinstance(event, SeedSet):
        text = f"seed {event.seed}"
        if event.data_seed is not None:
            text += f", data seed {event.data_seed}"
        return text + (", full determinism" if event.full_determinism else "")
    if isinstance(event, AcceleratorReady):
        procs = f"{event.num_processes} process{'es' if event.num_processes != 1 else ''}"
        return f"{event.device}, {procs}, mixed precision {event.mixed_precision}"
    if isinstance(event, ModelResolved):
        cls = event.model_class.rsplit(".", 1)[-1]
        return f"{cls} from {event.source}: {event.num_parameters:,} parameters, {event.dtype}"
    if isinstance(event, StrategyResolved):
        kind = "model parallel" if event.is_model_parallel else "FSDP" if event.fsdp else None
        kind = kind or ("DeepSpeed" if event.deepspeed else f"world size {event.world_size}")
        place = "place on device" if event.place_model_on_device else "do not place"
        reasons = f" ({'; '.join(event.reasons)})" if event.reasons else ""
        return f"{kind}, {place}{reasons}"
    if isinstance(event, ModelPlaced):
        return f"{'moved to' if event.moved else 'on'} {event.device}" + (f": {event.reason}" if event.reason else "")
    if isinstance(event, ModelIntrospected):
        labels = ", ".join(event.label_names) or "none"
        return f"label names: {labels}; loss kwargs: {_yes(event.model_accepts_loss_kwargs)}"
    if isinstance(event, ArgumentsStored):
        text = f"train {event.train_dataset or 'none'}"
        if event.train_samples is not None:
            text += f" ({event.train_samples})"
        if event.eval_dataset:
            text += f", eval {event.eval_dataset}" + (f" ({event.eval_samples})" if event.eval_samples else "")
        return text + f", collator {event.data_collator}"
    if isinstance(event, CallbacksRegistered):
        return ", ".join(event.callbacks) or "no callbacks"
    if isinstance(event, OutputPrepared):
        text = f"{event.output_dir} ({'created' if event.created else 'exists'})"
        return text + (f", hub {event.hub_repo}" if event.hub_repo else "")
    if isinstance(event, StateInitialized):
        batch = f", batch {event.train_batch_size}" if event.train_batch_size else ""
        return f"step {event.global_step} of {event.max_steps}{batch}"
    if isinstance(event, Finalized):
        if event.use_cache is None:
            return "ready to train (no use_cache on this model)"
        return f"ready to train, use_cache {'on' if event.use_cache else 'off'}"
    shown = ", ".join(f"{k}={v}" for k, v in list(event.payload.items())[:3])
    return shown or event.name


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def make_console(stream: IO[str] | None = None, *, plain: bool = False) -> Console:
    """A rich console on `stream`; wide and without colour when it is not a terminal."""
    from rich.console import Console

    stream = stream or sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)()) and not plain
    # markup=False: user text (callback names, errors) may hold [brackets].
    if is_tty:
        return Console(file=stream, markup=False, highlight=False)
    return Console(file=stream, force_terminal=False, no_color=True, width=120, markup=False, highlight=False)


def _status_cell(row: PhaseRow) -> RenderableType:
    from rich.spinner import Spinner
    from rich.text import Text

    if row.status == RUNNING:
        label = "running" if row.attempts <= 1 else f"running, attempt {row.attempts}"
        return Spinner("dots", text=Text(label, style="cyan"))
    if row.status == DONE:
        label = "done" if not row.retried else f"done after {row.attempts} attempts"
        return Text(f"✓ {label}", style="green" if not row.retried else "yellow")
    if row.status == RETRYING:
        return Text(f"↻ retrying (attempt {row.attempts} failed)", style="yellow")
    if row.status == FAILED:
        return Text("✗ failed", style="bold red")
    if row.status == REJECTED:
        return Text("⊘ rejected", style="bold red")
    return Text("· pending", style="dim")


def live_table(board: PhaseBoard) -> Table:
    """The table the live display redraws: one row per phase."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="trainer-fsm init", title_justify="left", expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("phase")
    table.add_column("state")
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right")
    table.add_column("decision", overflow="fold")
    for row in board.rows.values():
        detail = Text(row.error, style="red") if row.error else Text(row.decision)
        elapsed = _seconds(board.elapsed(row))
        table.add_row(str(row.index), row.trigger, row.dest, _status_cell(row), elapsed, detail)
    return table


def summary_table(board: PhaseBoard) -> Table:
    """The summary printed at the end: phase, state, duration, attempts, decision."""
    from rich.table import Table

    table = Table(title="set-up summary", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("phase")
    table.add_column("state")
    table.add_column("duration", justify="right")
    table.add_column("tries", justify="right")
    table.add_column("decision", overflow="fold")
    for row in board.rows.values():
        if row.status == PENDING:
            outcome = "not run"
        elif row.status == FAILED:
            outcome = f"FAILED: {row.error}"
        elif row.status == REJECTED:
            outcome = f"REJECTED {row.error}"
        else:
            outcome = row.decision
        table.add_row(
            str(row.index),
            row.trigger,
            row.dest if row.status == DONE else "-",
            _seconds(row.duration_s),
            str(row.attempts) if row.attempts else "",
            outcome,
        )
    return table


class LiveDisplay:
    """A rich live view of the board; use it as a context manager around the run."""

    def __init__(self, board: PhaseBoard, console: Console) -> None:
        from rich.live import Live

        self.board = board
        self._live = Live(
            get_renderable=lambda: live_table(board),
            console=console,
            refresh_per_second=12,
            transient=True,
        )

    def __call__(self, event: Event) -> None:
        if isinstance(event, (PhaseStarted, PhaseCompleted, PhaseFailed, GuardRejected)):
            self._live.refresh()

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._live.__exit__(*exc_info)


class PlainDisplay:
    """One line per finished, failed or retried phase; plain text for pipes and logs."""

    def __init__(self, board: PhaseBoard, stream: IO[str] | None = None) -> None:
        self.board = board
        self.stream = stream or sys.stdout

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        row = self.board.rows.get(event.phase or "")
        if row is None:
            return
        head = f"[{row.index:2d}/{len(self.board.rows)}] {row.trigger:<18} "
        if isinstance(event, PhaseCompleted):
            tries = f" (attempt {row.attempts})" if row.retried else ""
            self._line(f"{head}-> {row.dest:<19} {_seconds(row.duration_s):>9}  {row.decision}{tries}")
        elif isinstance(event, PhaseFailed):
            word = "FAILED" if event.final else "failed"
            self._line(f"{head}{word} on attempt {event.attempt}: {event.error_type}: {event.error}")
        elif isinstance(event, PhaseRetrying):
            self._line(f"{head}retrying in {event.delay_s:.2f} s (attempt {event.attempt})")
        elif isinstance(event, GuardRejected):
            self._line(f"{head}REJECTED {row.error}")

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None


class JsonDisplay:
    """Every event as one JSON line (`Event.to_dict()`, secrets redacted)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        print(json.dumps(redact(event.to_dict()), default=str), file=self.stream, flush=True)

    def __enter__(self) -> JsonDisplay:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None
