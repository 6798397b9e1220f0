"""Notes for RESULTS.md on every missed target: where the time goes, what would close it.

The figures the notes quote come from the same run: the profile (`bench.profiling`)
for in-process set-ups, the import profile for the cold start. The remedies are
written down here, next to the areas of the code they concern, so that a reader of
RESULTS.md sees the cause and the fix together.
"""

from __future__ import annotations

from typing import Any

from bench._core import Row, Section

__all__ = ["REMEDIES", "missed_notes"]

REMEDIES: dict[str, str] = {
    "events/environment.py": (
        "the environment fingerprint (InitStarted, audit log on) is built for every set-up; "
        "since 6d973a5 only when the audit log is on, with git asked once per directory per "
        "process (the first set-up of a process still pays two git processes, several "
        "milliseconds). What is left is per set-up: the devices, the launcher variables and "
        "their redaction; cache what cannot change within a process."
    ),
    "events/redact.py": (
        "since 7a0b29c each event's payload is redacted once for all subscribers "
        "(`Event.redacted_payload`). Each `redact()` still checks whether the environment "
        "changed by building `tuple(os.environ._data.items())` and comparing it with the "
        "cached one, and every string that contains a hint such as 'key', 'auth' or "
        "'session' goes through four regular-expression substitutions. Take the "
        "environment's secret values once per set-up (at InitStarted) and share them. With "
        "log and audit off, the call left is `InitConfig.to_dict()` (about 90 fields, "
        "redacted) for InitStarted's config: build it only when someone listens to "
        "InitStarted."
    ),
    "events/audit/sink.py": (
        "the sink keeps its file open between records and writes each record whole with one "
        "`os.write` as it arrives (microseconds each); most of its time is the `os.fsync` at "
        "InitReady, the durable point the audit issue asks for (from a fraction of a "
        "millisecond to about 4 ms per call on this machine's ext4 disk, depending on what "
        "else is writing to it). "
        "Issuing that fsync from a background thread (joined when the sink closes, or at "
        "interpreter exit) would take it off the set-up's path while keeping the guarantee "
        "for any crash after the thread finishes."
    ),
    "events/audit/_record.py": (
        "each record is made JSON-able, encoded canonically (sorted keys) and hashed with "
        "SHA-256, once since 7a0b29c (the hash is spliced into the canonical line); what is "
        "left is the JSON encoding and the payload walk (`jsonable`), proportional to the "
        "payload's size (InitStarted, with the config and the environment, is the big one)."
    ),
    "transitions": (
        "a `transitions.Machine` is built for every `TrainerInit` (13 states, 33 transitions "
        "counting the fail and rollback edges, trigger methods bound onto the model object), "
        "and each trigger goes through transitions' event processing (`EventData`, "
        "condition and callback lists). Build the transition table once per process (it is "
        "derived from a constant table), or drive the linear forward path directly and keep "
        "`transitions` for the failure and rollback edges and the diagram."
    ),
    "structlog": (
        "the structlog subscriber binds a logger and renders every event; at the default "
        "level (warning) it returns early, so this cost is the verbose (info, JSON) "
        "setting of the 'all on' run."
    ),
    "handlers/context.py": (
        "`SetupContext.snapshot()` copies about 40 product fields before every phase (their "
        "names computed once since 8891d4b), and `SetupInputs.as_dict()` builds the guards' "
        "view of the inputs for every phase; snapshot only the fields a phase writes (phases "
        "would declare them, as they declare `reads`) and build the inputs' dict once per set-up."
    ),
    "fsm/guards.py": "the guards run over the whole config for each phase; run each rule once per set-up "
    "where its inputs cannot change between phases.",
    "accelerate": "shared with both anchors: `Accelerator()` (and accelerate's environment handling) "
    "costs the same in Trainer and in the hand-written script.",
    "torch": "shared with both anchors (seeding, `torch.manual_seed` and device queries).",
}
"""What would make each area cheaper, by the area names the profile uses."""

_AUDIT_AREAS = ("events/audit/sink.py", "events/audit/_record.py", "events/redact.py")

_SHARED = {"accelerate", "torch", "(bench)", "bench/_core.py", "bench/bench_setup.py", "bench/profiling.py"}


def missed_notes(sections: list[Section]) -> list[str]:
    """Markdown paragraphs on the rows that missed their targets, one per measurement."""
    by_number = {s.number: s for s in sections}
    context = (by_number.get("P"), by_number.get("3"), by_number.get("5, 7"))
    groups: dict[str, list[Row]] = {}
    for section in sections:
        for row in section.rows:
            if row.met is False:
                groups.setdefault(row.key.split(".")[0], []).append(row)
    notes: list[str] = []
    for rows in groups.values():
        notes += [_note(rows, *context), ""]
    return notes[:-1]


def _top_areas(profile: Section | None, which: str, limit: int = 5) -> list[tuple[str, float, float]]:
    if profile is None or which not in profile.raw:
        return []
    result = profile.raw[which]
    total = result["total_s"] or 1.0
    areas = sorted(result["areas"].items(), key=lambda kv: -kv[1])
    return [(name, s, s / total) for name, s in areas if name not in _SHARED][:limit]


def _areas_text(profile: Section | None, which: str) -> str:
    top = _top_areas(profile, which)
    if not top:
        return "No profile was taken in this run (`python -m bench --only profile`)."
    parts = []
    for name, seconds, share in top:
        remedy = REMEDIES.get(name)
        line = f"  - `{name}`: {seconds * 1e3:.2f} ms per set-up ({share:.0%} of the sampled time)"
        parts.append(line + (f": {remedy}" if remedy else "."))
    result = profile.raw[which] if profile is not None else {}
    shared = sum(result.get("areas", {}).get(n, 0.0) for n in ("accelerate", "torch"))
    header = (
        f"The profile of the '{which}' set-up (see below) samples "
        f"{result.get('total_s', 0) * 1e3:.1f} ms per set-up, of which {shared * 1e3:.1f} ms are in "
        "accelerate and torch (work the anchors do too). The largest of trainer-fsm's own areas:"
    )
    return "\n".join([header, "", *parts])


def _events_text(events: Section | None) -> str:
    if events is None or "seconds_per_stamp" not in events.raw:
        return ""
    stamp = events.raw["seconds_per_stamp"]
    one = events.raw["seconds_per_event"][1]
    return (
        f" Of the {one * 1e6:.2f} us an event to one subscriber costs, {stamp * 1e6:.2f} us "
        f"({stamp / one:.0%}) is building the event: `EventBus.stamp` constructs a frozen, "
        "kw_only dataclass of ten or more fields, whose generated `__init__` sets each field "
        "through `object.__setattr__` (on this kind of machine: about 2 us for ten fields, "
        "against 0.4 us for a non-frozen dataclass). Delivery itself is a cached subscriber "
        "list and one call. A stamp path that applies the defaults and then sets the whole "
        "`__dict__` with one `object.__setattr__(event, '__dict__', fields)` keeps the events "
        "frozen and builds them 3-4x faster (measured on a ten-field frozen dataclass); the "
        "rate is also the figure most sensitive to the machine's load (see the load average "
        "above)."
    )


def _note(rows: list[Row], profile: Section | None, cold: Section | None, events: Section | None) -> str:
    missed = "; ".join(f"{r.what}: {r.formatted()} (target {r.target})" for r in rows)
    head = f"- **{missed}**."
    group = rows[0].key.split(".")[0]
    if group == "setup":
        return "\n".join([head, "", _areas_text(profile, "all on")])
    if group == "overhead":
        extra = ""
        if any(r.key == "overhead.flat" for r in rows):
            extra = (
                " The added time grows with the model: per-parameter work outside the anchor "
                "(`model_devices()` before placing, `describe_model()`) is the place to look."
            )
        top = _top_areas(profile, "all off")
        if top:
            gap = min(r.value for r in rows if r.key != "overhead.flat" and r.value is not None) - 1.0
            extra += (
                f" The gap to the target is {gap:.2f} ms per set-up; the five areas below add up to "
                f"{sum(t[1] for t in top) * 1e3:.2f} ms in the (sampling-inflated) profile."
            )
        return "\n".join([head + extra, "", _areas_text(profile, "all off")])
    if group == "cold":
        return head + " " + _cold_text(cold)
    if group == "recovery":
        return head + (
            " The recovery re-runs one phase and the two after it; its cost is that of "
            "three phases with their events, so a slower full set-up (a bigger model_init) "
            "only lowers the ratio. See the profile's per-phase areas."
        )
    if group == "memory":
        return head + (
            " A set-up should hold references only; a growth near the model's size means a "
            "copy of the parameters (a `.to()` to another dtype or device, a `deepcopy`, a "
            "snapshot that copies tensors)."
        )
    if group == "events":
        return head + _events_text(events)
    if group == "audit":
        return "\n".join(
            [
                head + " Each record is redacted, encoded canonically, hashed and appended:",
                "",
                *[f"  - `{area}`: {REMEDIES[area]}" for area in _AUDIT_AREAS],
            ]
        )
    return head + " No analysis is written for this target yet; see the details below."


def _cold_text(cold: Section | None) -> str:
    if cold is None:
        return ""
    raw: dict[str, Any] = cold.raw
    medians = raw.get("median_s", {})
    imports = raw.get("fsm_imports_s", {})
    floor, fsm, trainer = medians.get("torch_accelerate"), medians.get("fsm"), medians.get("trainer")
    if floor is None or fsm is None or trainer is None:
        return ""
    best = floor / trainer
    top = ", ".join(f"`{k}` {v:.2f} s" for k, v in list(imports.items())[:4])
    return (
        f"Both processes must import torch and accelerate ({floor:.2f} s here, the floor); "
        f"the Trainer process took {trainer:.2f} s, so no library built on torch can reach a "
        f"ratio below {best:.2f} on this machine. trainer-fsm spends {fsm - floor:.2f} s beyond the "
        f"floor (its import profile: {top}). What is left to cut: structlog (and rich, which "
        "structlog's console renderer imports) is imported when the default subscriber is "
        "created; importing it on the first event logged at or above the subscriber's level "
        "would spare it in a good set-up, which logs nothing at the default level."
    )
