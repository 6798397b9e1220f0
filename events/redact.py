"""Keep secrets out of everything the set-up writes or says.

A value is secret when the *name* it is stored under marks it as one (``hub_token``,
``WANDB_API_KEY``, ``db_password``, ``AUDIT_KEY``, ...). Redaction works on names, so it
also covers nested mappings, and on free text `scrub_text` removes

* every known secret *value* (the environment's secret variables, values given to
  `register_secret`, such as `InitConfig.hub_token`), wherever it appears, e.g. in an
  exception message that echoes a token back;
* what follows a secret name in ``name=value`` / ``name: value`` form
  (``HF_TOKEN=hf_abc``, ``"api_key": "abc"``, ``--hub_token abc``), an
  ``Authorization: Bearer ...`` credential, and the password of a URL
  (``https://user:pass@host``), even when the value is not known in advance.
"""

from __future__ import annotations

import functools
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

_SECRET_WORDS = (
    r"token|passw(?:or)?d|passphrase|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"signing[_-]?key|credential|auth|cookie|session[_-]?id"
)
_SECRET_NAME = re.compile(rf"({_SECRET_WORDS}|(?:^|[_.-])key$)", re.IGNORECASE)
# Names that contain a marker but hold no secret (counts, flags, tokenizers).
_NOT_SECRET = re.compile(
    r"(_tokens_seen|num_.*tokens|max_.*tokens|tokenizer|tokens?_per_\w+|tokens_across_\w+|_token_id|_token_ids|pad_token|"
    r"eos_token|bos_token|unk_token|sep_token|cls_token|mask_token|^author|sort_key|primary_key)$",
    re.IGNORECASE,
)

# Values shorter than this are not scrubbed from free text as *known values*: too likely
# to match ordinary words and numbers.
_MIN_SCRUB_LENGTH = 6

# `name=value`, `name: value`, `"name": "value"` where name marks a secret.
_ASSIGNMENT = re.compile(
    rf"""(?P<name>[\w.-]*(?:{_SECRET_WORDS})[\w.-]*|[\w.-]*[_.-]key\b)(?P<sep>["']?\s*[=:]\s*["']?)(?P<value>[^\s"',;&}}\]]+)""",
    re.IGNORECASE,
)
# `--hub_token value` on a command line.
_FLAG = re.compile(
    rf"""(?P<name>--?[\w.-]*(?:{_SECRET_WORDS})[\w.-]*)(?P<sep>\s+["']?)(?P<value>[^\s"'-][^\s"']*)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<scheme>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<value>[^/\s@]+)(?P<tail>@)", re.IGNORECASE)

# Cheap first look: lower-case text without any of these cannot hold a `name=value`
# secret, a bearer credential or a URL password (covers every word of _SECRET_WORDS).
_HINTS = (
    "token", "passw", "passphrase", "secret", "key", "credential", "auth", "cookie", "session", "bearer", "basic", "://",
)  # fmt: skip

_registered_secrets: set[str] = set()


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field or variable called `name` holds a secret."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def redact(value: Any, *, name: str = "") -> Any:
    """Return `value` with every secret replaced by `REDACTED`.

    Mappings are walked recursively by key; lists and tuples item by item, where a
    ``"--hub_token", "abc"`` pair (a command line) hides the item after the flag.
    Strings go through `scrub_text`. A secret that is ``None`` or empty stays as it is,
    so a reader can tell "no token" from "a token that was hidden".
    """
    return _redact(value, name, _Scrubber())


def _redact(value: Any, name: str, scrub: _Scrubber) -> Any:
    if name and is_secret_name(name) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, Mapping):
        return {(scrub(k) if isinstance(k, str) else k): _redact(v, str(k), scrub) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        hide_next = False
        for item in value:
            if hide_next and isinstance(item, str) and item:
                items.append(REDACTED)
                hide_next = False
                continue
            hide_next = isinstance(item, str) and item.startswith("-") and is_secret_name(item.lstrip("-"))
            items.append(_redact(item, "", scrub))
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, str):
        return scrub(value)
    return value


def known_secret_values(extra: Iterable[Any] = ()) -> set[str]:
    """Secret values that could be echoed in text: the environment's and `extra`'s."""
    values = set(_environment_secrets())
    values.update(str(v) for v in extra if isinstance(v, str) and len(v) >= _MIN_SCRUB_LENGTH)
    return values


_env_cache: tuple[Any, frozenset[str]] = ((), frozenset())


def _environment_secrets() -> frozenset[str]:
    """The values of secret environment variables, recomputed only when the environment changes."""
    global _env_cache
    raw = getattr(os.environ, "_data", None)  # CPython: the undecoded mapping, cheap to compare
    snapshot: Any = tuple(raw.items()) if isinstance(raw, dict) else None
    if snapshot is not None and snapshot == _env_cache[0]:
        return _env_cache[1]
    values = frozenset(v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= _MIN_SCRUB_LENGTH)
    if snapshot is not None:
        _env_cache = (snapshot, values)
    return values


def register_secret(value: str | None) -> None:
    """Remember `value` as a secret so `scrub_text` hides it wherever it appears."""
    if isinstance(value, str) and len(value) >= _MIN_SCRUB_LENGTH:
        _registered_secrets.add(value)


def scrub_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """Hide secrets in free text: known secret values, and values after secret names."""
    return _Scrubber(secrets)(text)


class _Scrubber:
    """`scrub_text` with the known secret values looked up once, for a whole `redact` walk."""

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        candidates = known_secret_values(secrets or ()) | _registered_secrets
        self.values = sorted(candidates, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if len(text) < 6:
            return text
        lowered = text.lower()
        if not any(hint in lowered for hint in _HINTS):
            return text
        text = _BEARER.sub(lambda m: m["scheme"] + REDACTED, text)
        text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + m["tail"], text)
        text = _FLAG.sub(_hide_assignment, text)
        return _ASSIGNMENT.sub(_hide_assignment, text)


def _hide_assignment(match: re.Match[str]) -> str:
    name, value = match["name"], match["value"]
    if not is_secret_name(name.strip(".-")) or REDACTED in value or value.lower() in _PLAIN_VALUES:
        return match.group(0)
    return name + match["sep"] + REDACTED


# Values after a secret name that are no secret: "hub_token=None", "token: true".
_PLAIN_VALUES = frozenset({"none", "null", "true", "false", "''", '""', "redacted", "***redacted***"})
