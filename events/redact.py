"""Keep secrets out of everything the set-up writes or says.

A value is secret when the *name* it is stored under marks it as one (``hub_token``,
``WANDB_API_KEY``, ``db_password``, ...). Redaction works on names, so it also covers
nested mappings, and `scrub_text` removes known secret *values* from free text such as
exception messages that echo a token back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "is_secret_name",
    "known_secret_values",
    "redact",
    "register_secret",
    "scrub_text",
]

REDACTED = "***REDACTED***"

_SECRET_NAME = re.compile(
    r"(token|passw(or)?d|secret|api[_-]?key|apikey|credential|private[_-]?key|auth)",
    re.IGNORECASE,
)
# Names that contain a marker but hold no secret (counts and flags).
_NOT_SECRET = re.compile(r"(_tokens_seen|num_.*tokens|max_.*tokens|tokenizer)$", re.IGNORECASE)

# Values shorter than this are not scrubbed from free text: too likely to match
# ordinary words and numbers.
_MIN_SCRUB_LENGTH = 6


def is_secret_name(name: str) -> bool:
    """Whether a field or variable called `name` holds a secret."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def redact(value: Any, *, name: str = "") -> Any:
    """Return `value` with every secret replaced by `REDACTED`.

    Mappings are walked recursively by key; lists and tuples are walked item by item.
    A secret that is ``None`` or empty stays as it is, so a reader can tell "no token"
    from "a token that was hidden".
    """
    if name and is_secret_name(name) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, name=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return scrub_text(value)
    return value


def known_secret_values(extra: Iterable[Any] = ()) -> set[str]:
    """Secret values that could be echoed in text: the environment's and `extra`'s."""
    values = {v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= _MIN_SCRUB_LENGTH}
    values.update(str(v) for v in extra if isinstance(v, str) and len(v) >= _MIN_SCRUB_LENGTH)
    return values


_registered_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember `value` as a secret so `scrub_text` hides it wherever it appears."""
    if isinstance(value, str) and len(value) >= _MIN_SCRUB_LENGTH:
        _registered_secrets.add(value)


def scrub_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """Replace every known secret value found in `text` with `REDACTED`."""
    candidates = known_secret_values(secrets or ()) | _registered_secrets
    for secret in sorted(candidates, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
