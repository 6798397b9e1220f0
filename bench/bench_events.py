"""5 and 7. Event throughput to no-op subscribers, and how its cost grows with them.

An `EventBus` emits `PhaseStarted` events (stamp + deliver, as the machine does) to 0,
1, 10 and 100 no-op subscribers registered on ``"*"`` (every event, as the structlog
subscriber and the audit sink register). The 0-subscriber bus is the anchor: the cost
of one delivery is (time with k subscribers - time with none) / (events x k).

Targets: at least 200,000 events/s to one subscriber; the time per event growing no
faster than the number of subscribers (1 to 100 subscribers: at most 100x).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from bench._core import Row, Section, Settings, median

__all__ = ["SUBSCRIBER_COUNTS", "emit_rate", "run"]

SUBSCRIBER_COUNTS = (0, 1, 10, 100)


def _noop(event: Any) -> None:
    return None


def emit_rate(subscribers: int, events: int) -> float:
    """Seconds to emit `events` PhaseStarted events to `subscribers` no-op subscribers."""
    from events.bus import EventBus
    from events.types import PhaseStarted

    bus = EventBus(run_id="bench")
    for _ in range(subscribers):
        bus.subscribe("*", _noop)
    emit = bus.emit
    gc.collect()
    started = time.perf_counter()
    for _ in range(events):
        emit(PhaseStarted, phase="place", attempt=1, source="StrategyResolved", dest="Placed")
    return time.perf_counter() - started


def stamp_rate(events: int) -> float:
    """Seconds to build (stamp, without delivering) `events` PhaseStarted events."""
    from events.bus import EventBus
    from events.types import PhaseStarted

    stamp = EventBus(run_id="bench").stamp
    gc.collect()
    started = time.perf_counter()
    for _ in range(events):
        stamp(PhaseStarted, phase="place", attempt=1, source="StrategyResolved", dest="Placed")
    return time.perf_counter() - started


def run(settings: Settings | None = None) -> Section:
    """Events per second at each subscriber count; medians over repeated batches."""
    settings = settings or Settings()
    section = Section("5, 7", "Event throughput and its growth with subscribers")
    events = settings.reps(20_000, 500)
    reps = settings.reps(7, 1)
    seconds: dict[int, list[float]] = {k: [] for k in SUBSCRIBER_COUNTS}
    emit_rate(1, min(events, 1000))  # warm up
    stamps: list[float] = []
    for _ in range(reps):
        for k in SUBSCRIBER_COUNTS:
            batch = events if k < 100 else max(events // 10, 100)
            seconds[k].append(emit_rate(k, batch) / batch)
        stamps.append(stamp_rate(events) / events)
    stamp_s = median(stamps)
    per_event = {k: median(v) for k, v in seconds.items()}
    rate = {k: 1.0 / s for k, s in per_event.items()}
    per_delivery = {k: (per_event[k] - per_event[0]) / k for k in SUBSCRIBER_COUNTS if k}
    section.raw = {
        "events_per_batch": events,
        "reps": reps,
        "seconds_per_event": per_event,
        "events_per_s": rate,
        "seconds_per_delivery": per_delivery,
        "seconds_per_stamp": stamp_s,
    }
    section.rows.append(
        Row("events.rate_1", "events/s to 1 no-op subscriber", rate[1], "/s", ">= 200,000/s", rate[1] >= 200_000)
    )
    section.rows.append(Row("events.rate_10", "events/s to 10 no-op subscribers", rate[10], "/s"))
    section.rows.append(Row("events.rate_100", "events/s to 100 no-op subscribers", rate[100], "/s"))
    growth = per_event[100] / per_event[1]
    section.rows.append(
        Row(
            "events.growth_1_to_100",
            "time per event, 100 subscribers / 1 subscriber",
            growth,
            "x",
            "<= 100x (linear)",
            growth <= 100,
            f"{per_delivery[100] * 1e6:.2f} us per delivery at 100, {per_delivery[1] * 1e6:.2f} us at 1",
        )
    )
    section.details.append(f"Medians over {reps} batches of {events:,} events (100 subscribers: a tenth as many):")
    section.details.append("")
    section.details.append("| subscribers | events/s | us per event | us per delivery (beyond the bus's own cost) |")
    section.details.append("|---:|---:|---:|---:|")
    for k in SUBSCRIBER_COUNTS:
        delivery = f"{per_delivery[k] * 1e6:.3f}" if k else "-"
        section.details.append(f"| {k} | {rate[k]:,.0f} | {per_event[k] * 1e6:.3f} | {delivery} |")
    section.details.append("")
    section.details.append(
        f"Building the event alone (`EventBus.stamp`: envelope and frozen dataclass) takes "
        f"{stamp_s * 1e6:.3f} us of the {per_event[1] * 1e6:.3f} us per event to one subscriber."
    )
    return section
