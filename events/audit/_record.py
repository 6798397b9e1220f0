"""The audit record: its fields, its canonical encoding, and its hash.

A record is one JSON object on one line. Its ``hash`` is SHA-256 (or HMAC-SHA256 with a
key) over the canonical encoding of every other field; the canonical encoding is
``json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
allow_nan=False)``, and the line itself is the canonical encoding of the whole record,
so a reader can tell any change of a single byte.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
import math
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from events.redact import redact, scrub_text

__all__ = [
    "ALGORITHMS",
    "FIELDS",
    "GENESIS",
    "KEY_ENV",
    "SCHEMA_VERSION",
    "canonical",
    "jsonable",
    "key_from_env",
    "record_hash",
    "safe_payload",
    "sealed_line",
    "utc_iso",
]

SCHEMA_VERSION = 1
"""The version of the record layout this trainer-fsm writes (field ``v``)."""

GENESIS = "0" * 64
"""The ``prev`` of the first record of a run: no record comes before it."""

KEY_ENV = "TRAINER_FSM_AUDIT_KEY"
"""Environment variable holding the key for HMAC-SHA256 records (writer and verifier)."""

ALGORITHMS = ("sha256", "hmac-sha256")

FIELDS = (
    "v",
    "run_id",
    "seq",
    "time",
    "mono",
    "rank",
    "world_size",
    "event",
    "phase",
    "attempt",
    "payload",
    "prev",
    "alg",
    "hash",
)
"""The fields of a schema-1 record, each required, no others allowed."""


def canonical(obj: Any) -> bytes:
    """The canonical JSON encoding of `obj`: sorted keys, compact, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def sealed_line(record: dict[str, Any], key: bytes | None) -> bytes:
    """Set ``record["hash"]`` and return the record's canonical line, encoding it once.

    The hash covers the canonical encoding without the ``hash`` field; in the sorted
    encoding ``hash`` sits between ``event`` and ``mono``, so the line is that same
    encoding with the field spliced in (checked against a full encoding if the splice
    point is not where it must be).
    """
    body = canonical(record)
    digest = hmac.new(key, body, hashlib.sha256).hexdigest() if key else hashlib.sha256(body).hexdigest()
    record["hash"] = digest
    cut = body.find(b',"mono":')
    if cut < 0 or b',"mono":' in body[:cut]:  # pragma: no cover - a record always has "mono"
        return canonical(record) + b"\n"
    return body[:cut] + b',"hash":"' + digest.encode("ascii") + b'"' + body[cut:] + b"\n"


def record_hash(record: Mapping[str, Any], key: bytes | None) -> str:
    """The hash of `record` (its ``hash`` field left out): hex SHA-256, or HMAC with `key`."""
    body = canonical({k: v for k, v in record.items() if k != "hash"})
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def key_from_env(name: str = KEY_ENV) -> bytes | None:
    """The audit key from the environment variable `name`, or None when unset or empty."""
    value = os.environ.get(name)
    return value.encode("utf-8") if value else None


def utc_iso(timestamp: float) -> str:
    """`timestamp` (seconds since the epoch) as UTC ISO 8601 with microseconds and a Z."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def jsonable(value: Any, *, text: Callable[[str], str] = str, _depth: int = 0) -> Any:
    """`value` as plain JSON data: mappings with str keys, lists, str, int, float, bool, None.

    Tuples and sets become lists; enums their value; dataclasses dicts; non-finite
    floats the strings ``"nan"``, ``"inf"``, ``"-inf"``; anything else its `str`, passed
    through `text` (e.g. `scrub_text`). Nesting deeper than 64 levels is cut off
    (``"<nested too deep>"``).
    """
    if _depth > 64:
        return "<nested too deep>"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value, text=text, _depth=_depth + 1)
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, str) else text(str(k))): jsonable(v, text=text, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v, text=text, _depth=_depth + 1) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(
            {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, text=text, _depth=_depth + 1
        )
    item = getattr(value, "item", None)  # numpy / torch scalars: their Python value
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return jsonable(item(), text=text, _depth=_depth + 1)
        except Exception:  # not a scalar after all: fall through to str()
            pass
    if isinstance(value, bytes):
        return text(value.decode("utf-8", "backslashreplace"))
    if isinstance(value, os.PathLike):
        return text(os.fspath(value))
    return text(str(value))


def safe_payload(payload: Mapping[str, Any], *, redacted: bool = False) -> dict[str, Any]:
    """An event's payload as it goes into a record: redacted (unless it already is), then
    plain JSON data."""
    clean = dict(payload) if redacted else redact(dict(payload))
    return jsonable(clean, text=scrub_text)  # str() of an object may reveal a secret
