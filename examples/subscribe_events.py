"""Subscribing to the set-up's events: your own progress lines, and the decisions of
every phase written to a metrics file (JSON Lines).

    python examples/subscribe_events.py
"""

from __future__ import annotations

import json
from pathlib import Path

from events import EventBus, FactEvent, InitReady, PhaseCompleted, PhaseStarted, SubscriberFailed
from fsm import InitConfig, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP

bus = EventBus()


# 1. Your own progress display: a function of one event, selected by event class.
@bus.subscribe(PhaseStarted)
def on_start(event: PhaseStarted) -> None:
    print(f"-> {event.phase} ({event.source} -> {event.dest})")


@bus.subscribe(PhaseCompleted)
def on_done(event: PhaseCompleted) -> None:
    print(f"   {event.state} in {event.duration_s * 1000:.1f} ms")


# 2. What each phase decided, one JSON object per line, in a metrics file.
metrics_path = Path("trainer_output") / "setup_metrics.jsonl"
metrics_path.parent.mkdir(parents=True, exist_ok=True)
metrics = metrics_path.open("a", encoding="utf-8")
bus.subscribe(FactEvent, lambda event: metrics.write(json.dumps(event.to_dict()) + "\n"))

# 3. Select by name glob, with a filter, once: the first event of the `place` phase.
bus.subscribe("*", lambda event: print(f"   first event of place: {event.name}"), once=True,
              where=lambda event: event.phase == "place")  # fmt: skip

# 4. A subscriber that raises is isolated: the set-up goes on and reports it.
bus.subscribe(InitReady, lambda event: 1 / 0)
bus.subscribe(SubscriberFailed, lambda e: print(f"   a subscriber failed on {e.event_name}: {e.error_type}; went on"))

init = TrainerInit(InitConfig(output_dir="trainer_output"), model_init=TinyMLP,
                   train_dataset=SyntheticRegression(64), bus=bus, log=False)  # fmt: skip
with metrics:
    setup = init.run()

facts = [json.loads(line) for line in metrics_path.read_text().splitlines()]
print(f"{init.state}; {len(facts)} decisions in {metrics_path}: {', '.join(f['event'] for f in facts[-11:])}")
