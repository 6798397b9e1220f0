"""The audit log: a tamper-evident JSON Lines record of every set-up, and tools to read it.

    from events.audit import AuditSink, read, show, diff, verify

    result = verify("out/trainer_fsm_audit.jsonl")
    assert result, result.summary()

`AuditSink` writes (`TrainerInit` subscribes one by default); `read` parses leniently,
`verify` checks every byte and the hash chains, `show` gives each run's timeline and
`diff` what differs between two set-ups. The record layout is in `events.audit._record`.
"""

from __future__ import annotations

from events.audit._record import GENESIS, KEY_ENV, SCHEMA_VERSION, canonical, record_hash
from events.audit.reader import (
    MAX_LINE_BYTES,
    AuditLog,
    AuditReadError,
    AuditRecord,
    LineProblem,
    VerifyResult,
    read,
    verify,
)
from events.audit.report import VOLATILE, AuditDiff, Difference, RunTimeline, TimelineRow, diff, run_summary, show
from events.audit.sink import DEFAULT_FILENAME, AuditSink, AuditWriteError, audit_filename

__all__ = [
    "DEFAULT_FILENAME",
    "GENESIS",
    "KEY_ENV",
    "MAX_LINE_BYTES",
    "SCHEMA_VERSION",
    "VOLATILE",
    "AuditDiff",
    "AuditLog",
    "AuditReadError",
    "AuditRecord",
    "AuditSink",
    "AuditWriteError",
    "Difference",
    "LineProblem",
    "RunTimeline",
    "TimelineRow",
    "VerifyResult",
    "audit_filename",
    "canonical",
    "diff",
    "read",
    "record_hash",
    "run_summary",
    "show",
    "verify",
]
