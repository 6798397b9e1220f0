"""`AuditSink`: writes every event of one set-up to a hash-chained JSON Lines file.

Where and when it writes (the set-up must never leave files it should not):

* Nothing is written before the set-up starts (a config rejected up front leaves nothing).
* With the default location, ``<output_dir>/trainer_fsm_audit.jsonl`` (rank ``r > 0``:
  ``trainer_fsm_audit_rank<r>.jsonl``), records are kept in memory until the output
  directory exists: at once when it existed before the set-up started, else from
  `OutputPrepared` on. When a set-up fails before that, the records are written only if
  the directory exists; otherwise they stay in `AuditSink.records`.
* With an explicit path, records are written as soon as the file's directory exists.
* When a reconfigure rolls back ``prepare_output`` and the set-up had created the output
  directory, the sink removes its own file (the only file it ever removes, one it created
  in this run) and the directories the phase created, if now empty, so the rollback is
  complete; the records stay in memory and go, whole, to the next output directory.

Each record is one line written with a single ``write`` on a file opened for appending
(never truncated); the file is fsynced after `PhaseFailed`, `InitReady` and `InitFailed`.
A file whose last line was cut by a crash gets a newline first, so the next record stays
readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from events.audit._record import (
    GENESIS,
    SCHEMA_VERSION,
    key_from_env,
    safe_payload,
    sealed_line,
    utc_iso,
)
from events.exceptions import EventsError
from events.redact import register_secret
from events.types import (
    Event,
    InitFailed,
    InitReady,
    InitStarted,
    OutputPrepared,
    PhaseFailed,
    PhaseRolledBack,
    Reconfigured,
)

__all__ = ["DEFAULT_FILENAME", "AuditSink", "AuditWriteError", "audit_filename"]

DEFAULT_FILENAME = "trainer_fsm_audit.jsonl"

# fsm.config.DEFAULT_OUTPUT_DIR: transformers' default output_dir (events does not import fsm).
_DEFAULT_OUTPUT_DIR = "trainer_output"


class AuditWriteError(EventsError, OSError):
    """Raised (once) by the sink when its file cannot be written; the records stay in memory.

    The bus reports it as `SubscriberFailed`; the set-up goes on.
    """


def audit_filename(base: str | os.PathLike[str], rank: int) -> Path:
    """The file of `rank` for the audit path `base`: `base` itself on rank 0,
    ``<stem>_rank<r><suffix>`` on rank ``r > 0``."""
    path = Path(base)
    if rank <= 0:
        return path
    return path.with_name(f"{path.stem}_rank{rank}{path.suffix}")


class AuditSink:
    """A bus subscriber that records one set-up as a tamper-evident JSON Lines file.

    Args:
        path: where to write; None for the default, inside the output directory. A
            directory means ``<path>/trainer_fsm_audit.jsonl``. Other ranks than 0 write
            to ``<stem>_rank<r><suffix>`` next to it.
        key: a key for HMAC-SHA256 records (see the README: only a key makes a forged,
            correctly chained record detectable). By default the ``TRAINER_FSM_AUDIT_KEY``
            environment variable, if set; ``""`` means no key.
        fsync: fsync the file at failures and at the end (default True).

    Attributes:
        records: every record of the run so far, as dicts (also those not yet written).
        path: the file written to, once something was written; else None.
    """

    #: the subscription priority: records are written before other subscribers run.
    priority = 1000

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, key: bytes | str | None = None, fsync: bool = True
    ):
        self.explicit_path = Path(path) if path is not None else None
        if key is None:
            key = key_from_env()
        if isinstance(key, str):
            register_secret(key)
            key = key.encode("utf-8")
        self._key: bytes | None = key or None
        self.fsync = fsync
        self.records: list[dict[str, Any]] = []
        self._lines: list[bytes] = []
        self.path: Path | None = None
        self.written = 0
        self.error: str | None = None
        self.run_id: str | None = None
        self._started = False
        self._output_dir: str | None = None
        self._dir_existed = False
        self._output_ready = False
        self._dirs_created: list[Path] = []
        self._created_file = False
        self._refused: set[str] = set()  # other runs' ids, refused once each
        self._bytes_written = 0  # by this sink into `path`
        self._fd: int | None = None  # `path`, kept open between records of a phase

    # ------------------------------------------------------------ reading

    @property
    def head(self) -> str:
        """The hash of the last record (the genesis hash before the first); keep it
        somewhere else to detect later appends: ``trainer-fsm audit verify --head``."""
        return self.records[-1]["hash"] if self.records else GENESIS

    @property
    def keyed(self) -> bool:
        """Whether records are HMAC-SHA256 with a key (else plain SHA-256)."""
        return self._key is not None

    def lines(self) -> list[bytes]:
        """Every record as its line (canonical JSON and a newline), in order."""
        return list(self._lines)

    # ------------------------------------------------------------ subscriber

    def __call__(self, event: Event) -> None:
        if not self._append(event):
            return
        self._observe(event)
        self._sync(event)

    def close(self) -> None:
        """Write what is still in memory, if the file's directory exists, and close the file."""
        try:
            self._sync(None)
        finally:
            self._close_file()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self._close_file()

    def _close_file(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _append(self, event: Event) -> bool:
        if self.run_id is None:
            self.run_id = event.run_id
        elif event.run_id != self.run_id:
            if event.run_id in self._refused:
                return False
            self._refused.add(event.run_id)
            msg = (
                f"this AuditSink records run {self.run_id}, not {event.run_id}: "
                "give each TrainerInit its own AuditSink (or a path)"
            )
            raise ValueError(msg)
        record: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "run_id": event.run_id,
            "seq": len(self.records),
            "time": utc_iso(event.time),
            "mono": event.monotonic,
            "rank": event.rank,
            "world_size": event.world_size,
            "event": event.name,
            "phase": event.phase,
            "attempt": event.attempt,
            "payload": safe_payload(event.redacted_payload(), redacted=True),
            "prev": self.head,
            "alg": "hmac-sha256" if self._key else "sha256",
        }
        line = sealed_line(record, self._key)
        self.records.append(record)
        self._lines.append(line)
        return True

    def _observe(self, event: Event) -> None:
        """Follow the output directory: configured, created, rolled back."""
        if isinstance(event, InitStarted):
            self._started = True
            self._set_output_dir(event.config.get("output_dir"))
        elif isinstance(event, Reconfigured) and "output_dir" in event.changes:
            self._set_output_dir(event.changes["output_dir"])
        elif isinstance(event, OutputPrepared):
            self._output_dir = event.output_dir
            self._output_ready = True
            self._dirs_created = [Path(d) for d in event.created_dirs]
        elif isinstance(event, PhaseRolledBack) and event.phase == "prepare_output":
            self._output_ready = False
            self._release()

    def _set_output_dir(self, value: Any) -> None:
        self._output_dir = value if isinstance(value, str) and value else None
        self._dir_existed = Path(self._resolved_dir()).is_dir()
        self._output_ready = False

    def _resolved_dir(self) -> str:
        return self._output_dir or _DEFAULT_OUTPUT_DIR

    def _target(self, event: Event | None) -> Path | None:
        """Where the records may go now, or None to keep them in memory for now."""
        rank = event.rank if event is not None else (self.records[-1]["rank"] if self.records else 0)
        if self.explicit_path is not None:
            base = self.explicit_path
            if base.is_dir():
                base = base / DEFAULT_FILENAME
            return audit_filename(base, rank) if base.parent.is_dir() else None
        directory = Path(self._resolved_dir())
        at_end = event is None or _is_flush_point(event)
        if (self._output_ready or self._dir_existed or at_end) and directory.is_dir():
            return audit_filename(directory / DEFAULT_FILENAME, rank)
        return None

    def _sync(self, event: Event | None) -> None:
        if self.error is not None or not self._started:
            return
        durable = event is None or isinstance(event, (PhaseFailed, InitReady, InitFailed))
        if self.path is None:
            target = self._target(event)
            if target is None:
                if isinstance(event, InitReady):
                    self.error = f"the audit log's directory does not exist; {len(self.records)} records kept in memory"
                    msg = f"{self.error} (TrainerInit.audit.records)"
                    raise AuditWriteError(msg)
                return
            self._write(target, first=True, durable=durable)
        elif self.written < len(self._lines) or durable:
            self._write(self.path, first=False, durable=durable)

    def _write(self, path: Path, *, first: bool, durable: bool) -> None:
        data = b"".join(self._lines[self.written :])
        existed = True
        try:
            if first:
                existed = path.exists()
                if existed and not _ends_with_newline(path):
                    data = b"\n" + data  # a crash cut the last line: keep ours on a line of its own
            if self._fd is None:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            if durable:
                if self.fsync:
                    os.fsync(self._fd)
                self._close_file()  # the set-up may pause here for long: hold no descriptor
        except OSError as exc:
            self._close_file()
            self.error = f"the audit log {str(path)!r} could not be written ({exc})"
            msg = f"{self.error}; its {len(self.records)} records are kept in memory (TrainerInit.audit.records)"
            raise AuditWriteError(msg) from exc
        if first:
            self.path = path
            self._created_file = not existed
        self._bytes_written += len(data)
        self.written = len(self._lines)

    def _release(self) -> None:
        """After prepare_output was rolled back: take our file out of the directory the
        set-up created, so that the directory goes too; the records stay in memory."""
        self._close_file()
        path, created = self.path, self._dirs_created
        self._dirs_created = []
        if path is None or not self._created_file or not created or path.parent.absolute() != created[0]:
            return
        try:
            alone = [p.name for p in path.parent.iterdir()] == [path.name]
            if not alone or path.stat().st_size != self._bytes_written:
                return  # someone else wrote there too: keep the file, and so the directory
            path.unlink()
        except OSError:
            return
        self.path, self.written, self._created_file, self._bytes_written = None, 0, False, 0
        for directory in created:  # deepest first; only empty ones, as the phase's rollback
            try:
                directory.rmdir()
            except OSError:
                break


def _is_flush_point(event: Event) -> bool:
    if isinstance(event, PhaseFailed):
        return event.final
    if isinstance(event, PhaseRolledBack):
        return event.reason == "cancelled"
    return isinstance(event, InitFailed)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
