"""1. In-process set-up of the same tiny model: trainer-fsm vs `transformers.Trainer`.

Each subject builds its arguments and sets up the same tiny MLP and dataset in the
same process (accelerate's singletons reset before every call):

* ``trainer``: ``TrainingArguments(...)`` then ``Trainer(model, args, train_dataset)``;
* ``fsm_all_on``: ``InitConfig(...)`` then ``TrainerInit(...).run()`` with events, a
  structlog subscriber rendering *every* event as JSON (level info, into a null
  stream), and the audit log when this checkout has it;
* ``fsm_default``: the defaults (structlog subscriber at the config's level, warnings
  when passive, so a good set-up logs nothing; audit log when present);
* ``fsm_all_off``: ``log=False`` and ``audit=False`` where that keyword exists.

Target: ``fsm_all_on`` no slower than ``trainer`` (ratio <= 1).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from bench._core import Row, Section, Settings, audit_supported, fsm_kwargs, interleaved, median

__all__ = ["NullStream", "run"]


class NullStream(io.TextIOBase):
    """A text stream that drops what it is given (structlog still renders each line)."""

    def write(self, text: str) -> int:
        return len(text)


def _common_args(output_dir: str) -> dict[str, Any]:
    """The arguments both libraries get: same names (TrainingArguments'), same values."""
    return {"output_dir": output_dir, "use_cpu": True, "report_to": "none", "seed": 42}


def subjects(output_dir: str, *, with_trainer: bool = True) -> dict[str, Any]:
    """The set-ups to compare, by name; each is a no-argument function."""
    from events.log import StructlogSubscriber
    from fsm import InitConfig, TrainerInit
    from fsm.demo import SyntheticRegression, TinyMLP

    model, data = TinyMLP(), SyntheticRegression(256)
    args = _common_args(output_dir)

    def fsm(**kwargs: Any) -> Any:
        return TrainerInit(InitConfig(**args), model=model, train_dataset=data, **kwargs).run()

    def fsm_all_on() -> Any:
        verbose = StructlogSubscriber(renderer="json", level="info", stream=NullStream())
        return fsm(**fsm_kwargs(log=verbose, audit=True))

    def fsm_default() -> Any:
        return fsm(**fsm_kwargs(log=True, audit=True))

    def fsm_all_off() -> Any:
        return fsm(**fsm_kwargs(log=False, audit=False))

    found: dict[str, Any] = {}
    if with_trainer:
        from transformers import Trainer, TrainingArguments

        def trainer() -> Any:
            return Trainer(model=model, args=TrainingArguments(**args), train_dataset=data)

        found["trainer"] = trainer
    found.update(fsm_all_on=fsm_all_on, fsm_default=fsm_default, fsm_all_off=fsm_all_off)
    return found


def run(settings: Settings | None = None) -> Section:
    """Measure the set-ups side by side; rows are ratios to the Trainer's median."""
    settings = settings or Settings()
    section = Section("1", "In-process set-up vs transformers' Trainer (tiny MLP)")
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
        skipped = settings.transformers_anchor()
        found = subjects(str(Path(tmp) / "out"), with_trainer=skipped is None)
        times = interleaved(found, settings.reps(25, 3), warmup=settings.reps(3, 1))
    medians = {name: median(t) for name, t in times.items()}
    section.raw = {"median_s": medians, "reps": len(next(iter(times.values())))}
    audit = "audit log on" if audit_supported() else "no audit log in this checkout"
    labels = {
        "fsm_all_on": f"trainer-fsm, all on (events, structlog JSON at info, {audit}) / Trainer",
        "fsm_default": "trainer-fsm, defaults (structlog at warning) / Trainer",
        "fsm_all_off": "trainer-fsm, all off (log=False, audit off) / Trainer",
    }
    anchor = medians.get("trainer")
    for name, label in labels.items():
        if anchor is None:
            section.rows.append(
                Row(f"setup.{name}", label, None, "x", "<= 1.00x" if name == "fsm_all_on" else "", note=skipped or "")
            )
            continue
        ratio = medians[name] / anchor
        target, met = ("<= 1.00x", ratio <= 1.0) if name == "fsm_all_on" else ("", None)
        note = f"{medians[name] * 1e3:.2f} ms vs Trainer {anchor * 1e3:.2f} ms"
        section.rows.append(Row(f"setup.{name}", label, ratio, "x", target, met, note))
    section.details.append(f"Medians over {section.raw['reps']} interleaved repetitions, per set-up:")
    section.details.append("")
    section.details += [f"- `{name}`: {m * 1e3:.3f} ms" for name, m in medians.items()]
    return section
