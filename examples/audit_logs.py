"""Reading and diffing audit logs: every set-up leaves a tamper-evident record of what
it did, on which machine, with which versions. Months later you can check it is intact,
read it as a timeline, and see what differs between two set-ups.

    python examples/audit_logs.py

The same from a terminal: `trainer-fsm audit verify|show|diff FILE...`.
"""

from __future__ import annotations

from pathlib import Path

from events.audit import diff, read, show, verify
from fsm import InitConfig, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP


def set_up(output_dir: str, **config: object) -> str:
    """A set-up of the tiny demo model; returns where its audit log is."""
    init = TrainerInit(InitConfig(output_dir=output_dir, **config), model_init=TinyMLP,
                       train_dataset=SyntheticRegression(64), log=False)  # fmt: skip
    setup = init.run()
    return str(setup.audit_path)


first = set_up("trainer_output/run_a", seed=1)
second = set_up("trainer_output/run_b", seed=2, per_device_train_batch_size=16)

# 1. Verify: every record's hash and the chain between them.
result = verify(first)
print(f"verify {first}: {result.summary()}")

# 2. Read the records (one per event) and tell the story as a timeline.
log = read(first)
print(f"{len(log.records)} records, first event {log.records[0].event}, last {log.records[-1].event}")
for timeline in show(first):
    print(f"run {timeline.run_id[:8]} on {timeline.host}: {timeline.outcome}")
    for row in timeline.rows[:4]:
        print(f"  {row.phase:<16} attempt {row.attempt}  {row.outcome:<10} {row.decided}")

# 3. What differs between the two set-ups (times, pids and memory are left out).
changes = diff(first, second)
print(f"{len(changes.differences)} differences ({changes.hidden} volatile ones hidden):")
for d in changes.differences:
    print(f"  {d.section}.{d.key}: {d.a!r} -> {d.b!r}")

# 4. Tampering shows: rewrite the seed in the first record (still valid JSON) and verify.
path = Path(first)
path.write_bytes(path.read_bytes().replace(b'"seed":1', b'"seed":9', 1))
print(f"after editing one record: {verify(first).summary()}")
