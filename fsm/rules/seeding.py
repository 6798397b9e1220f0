"""Rules on seeds: `seed` and `data_seed` are in the range numpy accepts."""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule

__all__: list[str] = []

_MAX_SEED = 2**32 - 1


@rule("seed.range", fields=("seed", "data_seed"))
def seed_range(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """seed and data_seed are between 0 and 2**32 - 1 (numpy refuses others)."""
    for name in ("seed", "data_seed"):
        value = getattr(s.config, name)
        if value is not None and not 0 <= value <= _MAX_SEED:
            yield (
                f"{name} must be between 0 and 2**32 - 1, got {value!r}",
                f"use a non-negative {name} below 4294967296 (e.g. {value % (_MAX_SEED + 1)})",
                (name,),
            )
