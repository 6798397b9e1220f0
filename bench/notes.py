"""Notes for RESULTS.md on every missed target: where the time goes, what would close it.

The notes are written from the profile taken in the same run (`bench.profiling`), so
the figures they quote are this run's.
"""

from __future__ import annotations

from bench._core import Row, Section

__all__ = ["missed_notes"]


def missed_notes(sections: list[Section]) -> list[str]:
    """One paragraph per row that missed its target."""
    notes = []
    for section in sections:
        for row in section.rows:
            if row.met is False:
                notes += [_note(row, sections), ""]
    return notes[:-1] if notes else []


def _note(row: Row, sections: list[Section]) -> str:
    return f"- **{row.what}** ({row.formatted()}, target {row.target}): see the profile below."
