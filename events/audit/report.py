"""What an audit log says, in a reader's terms: `show` (a timeline per run) and `diff`
(what differs between two set-ups).

Both work on what `read` could parse; they do not verify (the CLI verifies too and says
so). They never trust a record's payload to have the fields it should: a record that
lacks them is shown with what it has.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from events.audit.reader import AuditLog, AuditRecord, LineProblem, read
from events.environment import VOLATILE_FIELDS

__all__ = [
    "VOLATILE",
    "AuditDiff",
    "Difference",
    "RunTimeline",
    "TimelineRow",
    "diff",
    "run_summary",
    "show",
]

# Lifecycle events: everything else with a phase is that phase's fact ("what it decided").
_LIFECYCLE = frozenset(
    {
        "InitStarted",
        "PhaseStarted",
        "PhaseCompleted",
        "PhaseFailed",
        "PhaseRetrying",
        "PhaseRolledBack",
        "GuardRejected",
        "InitReady",
        "InitFailed",
        "Reconfigured",
        "SubscriberFailed",
    }
)

VOLATILE = (
    *(f"environment.{name}" for name in VOLATILE_FIELDS),
    "decisions.finalize.memory",
    "run.duration_s",
    "run.started",
    "outcomes.*.duration_s",
)
"""Fields that differ between any two runs, hidden by `diff` unless ``show_volatile``:
the process id, memory figures, start times and durations (prefixes; ``*`` is any phase)."""


@dataclass(frozen=True)
class TimelineRow:
    """One line of a run's timeline: a phase attempt, or a run-level event."""

    seq: int
    time: str
    phase: str
    attempt: int | None
    outcome: str
    duration_s: float | None
    decided: str


@dataclass(frozen=True)
class RunTimeline:
    """A run as `show` tells it: who, where, with what, and phase by phase what happened."""

    path: str
    run_id: str
    rank: int | None
    started: str | None
    outcome: str
    duration_s: float | None
    host: str | None
    user: str | None
    versions: Mapping[str, Any]
    rows: tuple[TimelineRow, ...]
    problems: tuple[LineProblem, ...]


@dataclass(frozen=True)
class Difference:
    """One field that differs: `section` is config, environment, decisions, outcomes or run."""

    section: str
    key: str
    a: Any
    b: Any


@dataclass(frozen=True)
class AuditDiff:
    """What differs between run `run_a` of `path_a` and run `run_b` of `path_b`."""

    path_a: str
    run_a: str
    path_b: str
    run_b: str
    differences: tuple[Difference, ...]
    hidden: int
    """How many volatile differences were left out (see `VOLATILE`)."""

    def __bool__(self) -> bool:
        return bool(self.differences)

    def keys(self) -> list[str]:
        """``section.key`` of every difference, e.g. ``["config.seed", ...]``."""
        return [f"{d.section}.{d.key}" for d in self.differences]


# ---------------------------------------------------------------- show


def show(path: str | os.PathLike[str], *, run: str | None = None) -> list[RunTimeline]:
    """The timeline of every run in an audit file (or of the run whose id starts with `run`).

    Raises:
        AuditReadError: the file cannot be read or holds no record (or no such run).
    """
    log = read(path)
    if run is not None:
        groups = [log.run(run)]
    else:
        log.run()  # raises when there is no record at all
        groups = [[r for r in log.records if r.run_id == rid] for rid in log.run_ids()]
    return [_timeline(log, records) for records in groups]


def _timeline(log: AuditLog, records: Sequence[AuditRecord]) -> RunTimeline:
    rows: list[dict[str, Any]] = []
    open_rows: dict[str, dict[str, Any]] = {}  # phase -> its running attempt's row
    started = _find(records, "InitStarted")
    env = _mapping(started.payload.get("environment")) if started else {}
    outcome, total = "incomplete", None
    for rec in records:
        p, name, phase = rec.payload, rec.event, rec.phase or "-"
        base = {"seq": rec.seq, "time": rec.time, "phase": phase, "attempt": rec.attempt or None}
        if name == "PhaseStarted":
            row = {**base, "outcome": "running", "duration_s": None, "decided": ""}
            rows.append(row)
            open_rows[phase] = row
        elif name == "PhaseCompleted":
            row = open_rows.pop(phase, None) or _add(rows, base)
            row.update(outcome="completed", duration_s=_number(p.get("duration_s")))
        elif name == "PhaseFailed":
            row = open_rows.pop(phase, None) or _add(rows, base)
            final = p.get("final", True) is not False
            row.update(
                outcome="failed" if final else "failed, will retry",
                duration_s=_number(p.get("duration_s")),
                decided=f"{_text(p.get('error_type'))}: {_text(p.get('error'))}",
            )
        elif name == "PhaseRolledBack":
            if p.get("reason") != "failed":
                _add(
                    rows, base, outcome=f"rolled back ({_text(p.get('reason'))})", decided=f"to {_text(p.get('state'))}"
                )
        elif name == "GuardRejected":
            outcome = "rejected" if rec.seq == 0 or outcome == "incomplete" else outcome
            _add(rows, base, outcome="rejected", decided=_violations(p.get("violations")))
        elif name == "Reconfigured":
            _add(rows, base, outcome="reconfigured", decided=_summary(_mapping(p.get("changes"))))
        elif name == "SubscriberFailed":
            decided = f"{_text(p.get('subscriber'))} on {_text(p.get('event_name'))}: {_text(p.get('error'))}"
            _add(rows, base, outcome="subscriber failed", decided=decided)
        elif name == "InitReady":
            outcome, total = "Ready", _number(p.get("duration_s"))
            _add(rows, {**base, "phase": "-"}, outcome="Ready", duration_s=total)
        elif name == "InitFailed":
            outcome = "Failed"
            decided = f"{_text(p.get('failed_phase'))}: {_text(p.get('error_type'))}: {_text(p.get('error'))}"
            _add(rows, {**base, "phase": "-"}, outcome="Failed", decided=decided)
        elif name not in _LIFECYCLE:  # a phase's fact: what it decided
            row = open_rows.get(phase) or _last_row_of(rows, phase) or _add(rows, base, outcome=name)
            row["decided"] = _summary(p)
    return RunTimeline(
        path=log.path,
        run_id=records[0].run_id,
        rank=_int(records[0].data.get("rank")),
        started=started.time if started else records[0].time,
        outcome=outcome,
        duration_s=total,
        host=_opt_text(env.get("host")),
        user=_opt_text(env.get("user")),
        versions=_mapping(env.get("packages")),
        rows=tuple(TimelineRow(**row) for row in rows),
        problems=log.problems,
    )


def _add(rows: list[dict[str, Any]], base: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    row = {"outcome": "", "duration_s": None, "decided": "", **base, **values}
    rows.append(row)
    return row


def _last_row_of(rows: list[dict[str, Any]], phase: str) -> dict[str, Any] | None:
    for row in reversed(rows):
        if row["phase"] == phase and row["outcome"] in ("completed", "running"):
            return row
    return None


def _find(records: Iterable[AuditRecord], event: str) -> AuditRecord | None:
    return next((r for r in records if r.event == event), None)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _summary(payload: Mapping[str, Any], limit: int = 160) -> str:
    """``k=v, k=v`` of a fact's payload, short."""
    parts = []
    for key, value in payload.items():
        if value in (None, [], {}, ""):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key}={shown}")
    return _text("; ".join(parts), limit)


def _violations(value: Any) -> str:
    if not isinstance(value, list):
        return ""
    messages = [
        _text(v.get("rule", "")) + (": " + _text(v.get("message", "")) if v.get("message") else "")
        for v in value
        if isinstance(v, Mapping)
    ]
    return _text("; ".join(messages), 300)


# ---------------------------------------------------------------- diff


def run_summary(records: Sequence[AuditRecord]) -> dict[str, dict[str, Any]]:
    """A run as flat ``{section: {dotted key: value}}``: the config it ended with, the
    environment, what each phase decided last, each phase's outcome and the run's."""
    started = _find(records, "InitStarted")
    config = dict(_mapping(started.payload.get("config"))) if started else {}
    env = _mapping(started.payload.get("environment")) if started else {}
    decisions: dict[str, Any] = {}
    outcomes: dict[str, Any] = {}
    attempts: dict[str, int] = {}
    run: dict[str, Any] = {"outcome": "incomplete", "started": started.time if started else records[0].time}
    for rec in records:
        p, name, phase = rec.payload, rec.event, rec.phase
        if name == "Reconfigured":
            config.update(_mapping(p.get("changes")))
        elif name == "PhaseStarted" and phase:
            attempts[phase] = attempts.get(phase, 0) + 1
        elif name == "PhaseCompleted" and phase:
            outcomes[f"{phase}.outcome"] = "completed"
            outcomes[f"{phase}.attempts"] = attempts.get(phase, 1)
            outcomes[f"{phase}.duration_s"] = _number(p.get("duration_s"))
        elif name == "PhaseFailed" and phase and p.get("final", True) is not False:
            outcomes[f"{phase}.outcome"] = f"failed: {_text(p.get('error_type'))}"
            outcomes[f"{phase}.attempts"] = attempts.get(phase, 1)
        elif name == "GuardRejected":
            outcomes[f"{phase or 'start'}.outcome"] = "rejected"
        elif name == "InitReady":
            run.update(outcome="Ready", duration_s=_number(p.get("duration_s")))
        elif name == "InitFailed":
            run.update(outcome="Failed", failed_phase=p.get("failed_phase"))
        elif name not in _LIFECYCLE and phase:
            for key in [k for k in decisions if k.startswith(f"{phase}.")]:
                del decisions[key]  # a re-run phase: its last decision counts
            decisions.update(_flatten(p, prefix=f"{phase}."))
    return {
        "config": _flatten(config),
        "environment": _flatten(env),
        "decisions": decisions,
        "outcomes": outcomes,
        "run": run,
    }


def diff(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    run_a: str | None = None,
    run_b: str | None = None,
    show_volatile: bool = False,
) -> AuditDiff:
    """What differs between two set-ups: config, environment, decisions, outcomes.

    Compares the last run of each file, or the runs whose ids start with `run_a` and
    `run_b` (`a` and `b` may be the same file). Volatile fields (`VOLATILE`: pid,
    memory figures, start times, durations) are left out unless `show_volatile`.

    Raises:
        AuditReadError: a file cannot be read, holds no record, or lacks the run asked for.
    """
    records_a = read(a).run(run_a)
    records_b = read(b).run(run_b)
    sa, sb = run_summary(records_a), run_summary(records_b)
    differences: list[Difference] = []
    hidden = 0
    for section in ("config", "environment", "decisions", "outcomes", "run"):
        left, right = sa[section], sb[section]
        for key in sorted(set(left) | set(right)):
            va, vb = left.get(key, _ABSENT), right.get(key, _ABSENT)
            if va == vb and type(va) is type(vb):
                continue
            if not show_volatile and _is_volatile(f"{section}.{key}"):
                hidden += 1
                continue
            differences.append(Difference(section, key, _shown(va), _shown(vb)))
    return AuditDiff(
        path_a=os.fspath(a),
        run_a=records_a[0].run_id,
        path_b=os.fspath(b),
        run_b=records_b[0].run_id,
        differences=tuple(differences),
        hidden=hidden,
    )


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _shown(value: Any) -> Any:
    return "(absent)" if value is _ABSENT else value


def _is_volatile(dotted: str) -> bool:
    for pattern in VOLATILE:
        if "*" in pattern:
            head, tail = pattern.split("*", 1)
            if dotted.startswith(head) and dotted.endswith(tail):
                return True
        elif dotted == pattern or dotted.startswith(pattern + "."):
            return True
    return False


def _flatten(value: Mapping[str, Any], prefix: str = "", _depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item and _depth < 8:
            out.update(_flatten(item, f"{name}.", _depth + 1))
        else:
            out[name] = item
    return out
