"""Reading an audit file back: `read` (lenient) and `verify` (strict).

`read` returns every record it can parse and says which lines it could not. `verify`
checks, line by line, that the file is exactly what the sinks wrote and stops at the
first line that is not, naming it and saying why.

What a file must be to verify (schema 1):

* every line is a complete JSON object in canonical form (sorted keys, compact, ASCII),
  with exactly the record fields, a known schema version and a known algorithm;
* every record's ``hash`` is SHA-256 (or HMAC-SHA256 with the key) of its other fields;
* the records of each run form a chain: the first has ``seq`` 0 and ``prev`` the genesis
  hash (64 zeros); each next one has ``seq`` one more and ``prev`` the hash of the one
  before. A file may hold several runs, one after the other (a later set-up appends to
  it) or interleaved (processes sharing a file); each run is its own chain;
* with a key, every record is keyed; without one, a keyed record cannot be checked and
  fails (set the key to verify it);
* with an expected head, the file's last record has that hash.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from events.audit._record import ALGORITHMS, FIELDS, GENESIS, KEY_ENV, SCHEMA_VERSION, canonical, record_hash
from events.exceptions import EventsError

__all__ = [
    "MAX_LINE_BYTES",
    "AuditLog",
    "AuditReadError",
    "AuditRecord",
    "LineProblem",
    "VerifyResult",
    "read",
    "verify",
]

MAX_LINE_BYTES = 4 * 1024 * 1024
"""A line longer than this is not a record (records are a few KB); it is skipped unread."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TERMINAL_EVENTS = frozenset({"InitReady", "InitFailed"})


class AuditReadError(EventsError, ValueError):
    """Raised when an audit file cannot be read at all: missing, a directory, no
    permission, or holding no audit record. The message names the file and the fix."""


@dataclass(frozen=True)
class LineProblem:
    """Why line `line` (1-based) of a file is not a good record.

    `kind` is one of: ``incomplete`` (no newline at the end of the file: a crash
    mid-write), ``too_long``, ``blank``, ``not_json``, ``not_record`` (JSON, but not an
    audit record), ``schema``, ``not_canonical``, ``hash``, ``chain``, ``order``,
    ``missing``, ``key``, ``head``, ``empty``.
    """

    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class AuditRecord:
    """One record as read back, with the line it came from."""

    line: int
    data: Mapping[str, Any]
    raw: bytes = field(repr=False, default=b"")

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def seq(self) -> int:
        return self.data["seq"]

    @property
    def event(self) -> str:
        return self.data["event"]

    @property
    def phase(self) -> str | None:
        return self.data["phase"]

    @property
    def attempt(self) -> int:
        return self.data["attempt"]

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.data["payload"]

    @property
    def time(self) -> str:
        return self.data["time"]

    @property
    def hash(self) -> str:
        return self.data["hash"]


@dataclass(frozen=True)
class AuditLog:
    """What `read` found in a file: the records it could parse, and the lines it could not."""

    path: str
    records: tuple[AuditRecord, ...]
    problems: tuple[LineProblem, ...]

    def run_ids(self) -> list[str]:
        """The runs in the file, in the order they first appear."""
        return list(dict.fromkeys(r.run_id for r in self.records))

    def run(self, run_id: str | None = None) -> list[AuditRecord]:
        """The records of one run: the one whose id starts with `run_id`, or the last.

        Raises:
            AuditReadError: no run, or several runs, match `run_id`.
        """
        runs = self.run_ids()
        if not runs:
            msg = f"{self.path} holds no audit record" + (f" ({self.problems[0]})" if self.problems else "")
            raise AuditReadError(msg)
        if run_id is None:
            chosen = runs[-1]
        else:
            matches = [r for r in runs if r.startswith(run_id)]
            if len(matches) != 1:
                what = "no run" if not matches else f"{len(matches)} runs"
                msg = f"{what} in {self.path} starts with {run_id!r}; its runs are: {', '.join(runs)}"
                raise AuditReadError(msg)
            chosen = matches[0]
        return [r for r in self.records if r.run_id == chosen]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify`: true when the file is intact.

    Attributes:
        ok: every line verified (and the head matched, when one was expected).
        problem: the first bad line and why (None when ok).
        records: how many records verified before `problem` (all of them when ok).
        runs: the run ids met, in order.
        head: the hash of the last verified record.
        keyed: whether the verified records were HMAC-SHA256 with a key.
        notes: what is worth knowing but is no failure (a run with no end yet).
    """

    path: str
    ok: bool
    problem: LineProblem | None
    records: int
    runs: tuple[str, ...]
    head: str | None
    keyed: bool
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        """One line: ``intact: N records, R runs`` or the first problem."""
        if self.ok:
            runs = f"{len(self.runs)} run" + ("s" if len(self.runs) != 1 else "")
            how = "HMAC-SHA256, key checked" if self.keyed else "SHA-256 chain"
            return f"intact: {self.records} records, {runs} ({how}), head {self.head}"
        return f"{self.problem} ({self.records} records before it verify)"


# ---------------------------------------------------------------- lines


def _open(path: str | os.PathLike[str]) -> Any:
    try:
        return Path(path).open("rb")
    except FileNotFoundError:
        msg = f"{os.fspath(path)}: no such file; give the path of an audit log (e.g. out/trainer_fsm_audit.jsonl)"
    except IsADirectoryError:
        inside = Path(path) / "trainer_fsm_audit.jsonl"
        msg = f"{os.fspath(path)} is a directory; give the audit file inside it (e.g. {inside})"
    except PermissionError:
        msg = f"{os.fspath(path)}: permission denied; run as a user who may read it"
    except OSError as exc:
        msg = f"{os.fspath(path)} cannot be read: {exc.strerror or exc}"
    raise AuditReadError(msg)


def _lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes | None, LineProblem | None]]:
    """(line number, content without the newline or None, problem or None) for each line."""
    with _open(path) as f:
        number = 0
        while True:
            try:
                chunk = f.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise AuditReadError(f"{os.fspath(path)} cannot be read: {exc.strerror or exc}") from exc
            if not chunk:
                return
            number += 1
            if len(chunk) > MAX_LINE_BYTES:
                size = len(chunk)
                while not chunk.endswith(b"\n"):
                    chunk = f.readline(1 << 20)
                    if not chunk:
                        break
                    size += len(chunk)
                message = (
                    f"is {size:,} bytes long, over the {MAX_LINE_BYTES:,}-byte limit of a record: not an audit record"
                )
                yield number, None, LineProblem(number, "too_long", message)
                continue
            if not chunk.endswith(b"\n"):
                message = (
                    "is incomplete (the file does not end with a newline): the writer stopped mid-record, "
                    "e.g. a crash; the records before it are readable"
                )
                yield number, None, LineProblem(number, "incomplete", message)
                return
            yield number, chunk[:-1], None


def _parse(number: int, line: bytes) -> tuple[dict[str, Any] | None, LineProblem | None]:
    if not line.strip():
        return None, LineProblem(number, "blank", "is blank; every line of an audit log is a record")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as exc:
        return None, LineProblem(
            number, "not_json", f"holds a non-ASCII byte at column {exc.start + 1}; records are ASCII-only JSON"
        )
    try:
        data = json.loads(text)
    except RecursionError:
        return None, LineProblem(number, "not_json", "is JSON nested too deeply to be an audit record")
    except ValueError as exc:
        where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return None, LineProblem(number, "not_json", f"is not valid JSON ({reason}{where})")
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("NoneType", "null").replace("dict", "object").replace("list", "array")
        return None, LineProblem(number, "not_record", f"is a JSON {kind}, not an audit record (a JSON object)")
    problem = _check_schema(number, data)
    return (None, problem) if problem else (data, None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_FIELD_CHECKS: dict[str, tuple[Any, str]] = {
    "run_id": (lambda v: isinstance(v, str) and 0 < len(v) <= 200, "a non-empty string"),
    "seq": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "time": (lambda v: isinstance(v, str), "an ISO 8601 string"),
    "mono": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "rank": (_is_int, "an integer"),
    "world_size": (_is_int, "an integer"),
    "event": (lambda v: isinstance(v, str) and bool(v), "an event name"),
    "phase": (lambda v: v is None or isinstance(v, str), "a phase trigger or null"),
    "attempt": (_is_int, "an integer"),
    "payload": (lambda v: isinstance(v, dict), "an object"),
    "prev": (lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)), "64 lowercase hex digits"),
    "alg": (lambda v: v in ALGORITHMS, f"one of {', '.join(ALGORITHMS)}"),
    "hash": (lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)), "64 lowercase hex digits"),
}


def _check_schema(number: int, data: dict[str, Any]) -> LineProblem | None:
    version = data.get("v")
    if not _is_int(version):
        if "v" not in data and "event" not in data:
            return LineProblem(number, "not_record", "is a JSON object without the fields of an audit record")
        return LineProblem(number, "schema", f"field 'v' (schema version) must be an integer, got {_short(version)}")
    if version > SCHEMA_VERSION:
        return LineProblem(
            number,
            "schema",
            f"has schema version {version}, newer than this trainer-fsm reads ({SCHEMA_VERSION}); upgrade trainer-fsm",
        )
    if version != SCHEMA_VERSION:
        return LineProblem(number, "schema", f"has schema version {version}; this trainer-fsm reads {SCHEMA_VERSION}")
    missing = [k for k in FIELDS if k not in data]
    if missing:
        return LineProblem(number, "schema", f"lacks the field(s) {', '.join(missing)} of an audit record")
    extra = sorted(str(k) for k in data if k not in FIELDS)
    if extra:
        return LineProblem(number, "schema", f"has field(s) an audit record does not: {', '.join(extra)}")
    for name, (check, what) in _FIELD_CHECKS.items():
        if not check(data[name]):
            return LineProblem(number, "schema", f"field {name!r} must be {what}, got {_short(data[name])}")
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- read


def read(path: str | os.PathLike[str]) -> AuditLog:
    """Every record of an audit file that parses, and the lines that do not (no checks
    of hashes or chains: use `verify` for that).

    Raises:
        AuditReadError: the file cannot be opened or read.
    """
    records: list[AuditRecord] = []
    problems: list[LineProblem] = []
    for number, line, problem in _lines(path):
        if problem is not None:
            problems.append(problem)
            continue
        assert line is not None
        data, problem = _parse(number, line)
        if problem is not None:
            problems.append(problem)
        else:
            assert data is not None
            records.append(AuditRecord(number, data, line))
    return AuditLog(os.fspath(path), tuple(records), tuple(problems))


# ---------------------------------------------------------------- verify


def verify(
    path: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    expect_head: str | None = None,
) -> VerifyResult:
    """Check an audit file record by record; stops at the first bad line (see the module
    docstring for what is checked).

    Args:
        path: the audit file.
        key: the HMAC key the records were written with; by default the
            ``TRAINER_FSM_AUDIT_KEY`` environment variable, if set. ``""`` means no key.
        expect_head: the hash the last record must have (`AuditSink.head`, kept
            elsewhere): detects records appended or cut off after it was taken. At least
            12 leading hex digits.

    Raises:
        AuditReadError: the file cannot be opened or read (a file that reads but does
            not verify is a result, not an error).
    """
    if key is None:
        key = os.environ.get(KEY_ENV) or None
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    key_bytes = key_bytes or None
    heads: dict[str, tuple[int, str, int]] = {}  # run id -> (seq, hash, line) of its last record
    runs: list[str] = []
    seen: dict[str, set[str]] = {}  # run id -> the event names of its records
    count = 0
    last: tuple[str, int] | None = None
    keyed = False

    def result(problem: LineProblem | None, notes: tuple[str, ...] = ()) -> VerifyResult:
        head = last[0] if last else None
        return VerifyResult(os.fspath(path), problem is None, problem, count, tuple(runs), head, keyed, notes)

    for number, line, problem in _lines(path):
        if problem is None:
            assert line is not None
            data, problem = _parse(number, line)
        if problem is None:
            assert data is not None and line is not None
            problem = _check_record(number, line, data, key_bytes, heads)
        if problem is not None:
            return result(problem)
        assert data is not None
        run_id = data["run_id"]
        if run_id not in heads:
            runs.append(run_id)
        heads[run_id] = (data["seq"], data["hash"], number)
        seen.setdefault(run_id, set()).add(data["event"])
        keyed = keyed or data["alg"] == "hmac-sha256"
        last = (data["hash"], number)
        count += 1
    if count == 0:
        return result(LineProblem(0, "empty", f"{os.fspath(path)} holds no audit record"))
    if expect_head is not None:
        problem = _check_head(expect_head, last)
        if problem is not None:
            return result(problem)
    return result(None, _notes(runs, seen))


def _check_record(
    number: int,
    line: bytes,
    data: dict[str, Any],
    key: bytes | None,
    heads: Mapping[str, tuple[int, str, int]],
) -> LineProblem | None:
    try:
        encoded = canonical(data)
    except (ValueError, RecursionError):
        return LineProblem(number, "not_canonical", "holds values an audit record cannot (NaN, or nesting too deep)")
    if encoded != line:
        return LineProblem(
            number,
            "not_canonical",
            "is not in the canonical form the writer uses (sorted keys, no spaces, ASCII escapes): the line was edited",
        )
    if data["alg"] == "hmac-sha256" and key is None:
        return LineProblem(
            number, "key", f"is keyed (HMAC-SHA256): set {KEY_ENV} to the key it was written with to verify it"
        )
    if data["alg"] == "sha256" and key is not None:
        return LineProblem(
            number,
            "key",
            "is not keyed (plain SHA-256) while a key was given: anyone can forge such a record; "
            "verify without the key to check unkeyed logs",
        )
    if record_hash(data, key) != data["hash"]:
        why = "the key is wrong, or the record was edited" if key else "the record was edited"
        return LineProblem(number, "hash", f"its hash does not match its content: {why}")
    run_id, seq, prev = data["run_id"], data["seq"], data["prev"]
    before = heads.get(run_id)
    if before is None:
        if seq != 0:
            return LineProblem(
                number,
                "missing",
                f"run {run_id} starts at seq {seq}, not 0: {seq} earlier record(s) of this run are missing (deleted?)",
            )
        if prev != GENESIS:
            return LineProblem(number, "chain", f"opens run {run_id} but its prev is not the genesis hash (inserted?)")
        return None
    last_seq, last_hash, last_line = before
    if seq == 0 and prev == GENESIS:
        return LineProblem(number, "order", f"starts run {run_id} again (seq 0), which began at an earlier line")
    if seq <= last_seq:
        return LineProblem(
            number,
            "order",
            f"has seq {seq} after seq {last_seq} (line {last_line}) of run {run_id}: "
            "records are out of order (swapped or duplicated)",
        )
    if seq > last_seq + 1:
        gap = f"seq {last_seq + 1}" if seq == last_seq + 2 else f"seqs {last_seq + 1}..{seq - 1}"
        return LineProblem(
            number,
            "missing",
            f"has seq {seq} right after seq {last_seq} (line {last_line}) of run {run_id}: {gap} missing (deleted?)",
        )
    if prev != last_hash:
        return LineProblem(
            number,
            "chain",
            f"its prev hash is not the hash of line {last_line} (seq {last_seq}): the chain is broken "
            "(a record was replaced, or forged)",
        )
    return None


def _check_head(expected: str, last: tuple[str, int] | None) -> LineProblem | None:
    expected = expected.strip().lower()
    if len(expected) < 12 or not re.fullmatch(r"[0-9a-f]+", expected):
        return LineProblem(0, "head", f"the expected head {expected!r} is not a hash (at least 12 hex digits)")
    assert last is not None
    head, line = last
    if not head.startswith(expected):
        return LineProblem(
            line,
            "head",
            f"the last record's hash is {head[:16]}..., not the expected head {expected[:16]}...: "
            "records were appended or cut off since the head was taken",
        )
    return None


def _notes(runs: list[str], seen: Mapping[str, set[str]]) -> tuple[str, ...]:
    return tuple(
        f"run {run_id} has no InitReady or InitFailed: the set-up was stopped, still runs, "
        "or the end of the file was cut off"
        for run_id in runs
        if "InitStarted" in seen[run_id] and not _TERMINAL_EVENTS & seen[run_id]
    )
