"""2 and 7. The machine's own overhead vs a hand-written set-up, at three model sizes.

The anchor, `handwritten_setup`, does the eleven phases' work in straight-line code
with torch and accelerate: seed, build the Accelerator, count parameters, check the
strategy, move the model, read the forward's signature, pick the collator, build the
callback handler, create the output directory, a fresh TrainerState/TrainerControl,
set ``use_cache`` and call ``on_init_end``. It reuses trainer-fsm's plain data classes
(`CallbackHandler`, `TrainerState`, `TrainerControl`) because a script needs those
objects too; what it leaves out is the machine: `transitions`, the guards, events,
context snapshots and the undo captures (RNG state, device map) that make rollback
possible.

trainer-fsm runs with subscribers off (``log=False``, audit off). The added time is
the median of the paired differences (fsm minus hand-written, timed side by side).
Targets: under 1 ms added per set-up at every size, and flat as the model grows
(largest minus smallest added time under 1 ms).
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path
from typing import Any

from bench._core import (
    Row,
    Section,
    Settings,
    build_stack,
    fsm_kwargs,
    interleaved,
    median,
    model_bytes,
    paired_median_difference,
)

__all__ = ["MODEL_SIZES", "handwritten_setup", "run"]

MODEL_SIZES: dict[str, tuple[int, int]] = {
    "small": (32, 2),
    "medium": (512, 8),
    "large": (2048, 16),
}
"""Model sizes as (width, depth) of `build_stack`: about 2 K, 2 M and 67 M parameters."""

_QUICK_SIZES = {"small": (32, 2), "medium": (64, 4), "large": (128, 8)}


def handwritten_setup(model: Any, train_dataset: Any, output_dir: str, seed: int = 42) -> dict[str, Any]:
    """The eleven phases' work written out by hand with torch and accelerate."""
    from datetime import timedelta

    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs, set_seed

    from handlers.arguments import default_data_collator
    from handlers.callbacks import CallbackHandler, DefaultFlowCallback, ProgressCallback
    from handlers.trainer_state import TrainerControl, TrainerState

    set_seed(seed)  # 1 seed
    accelerator = Accelerator(  # 2 accelerate
        cpu=True,
        mixed_precision="no",
        gradient_accumulation_steps=1,
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=1800))],
    )
    num_parameters = sum(p.numel() for p in model.parameters())  # 3 resolve the model
    state = accelerator.state  # 4 strategy
    place = not getattr(model, "hf_device_map", None) and getattr(state, "fsdp_plugin", None) is None
    if place:  # 5 place
        model = model.to(accelerator.device)
    forward = inspect.signature(model.forward).parameters  # 6 introspect
    label_names = [name for name in forward if "label" in name]
    accepts_loss_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in forward.values())
    collator = default_data_collator  # 7 store
    callbacks = CallbackHandler([DefaultFlowCallback], model, None, None, None)  # 8 callbacks
    callbacks.add_callback(ProgressCallback)
    if accelerator.is_main_process:  # 9 output
        os.makedirs(output_dir, exist_ok=True)
    steps = max(1, len(train_dataset) // 8) * 3  # 10 state
    trainer_state = TrainerState(max_steps=steps, train_batch_size=8)
    control = TrainerControl()
    model_config = getattr(model, "config", None)  # 11 finalize
    if model_config is not None and hasattr(model_config, "use_cache"):
        model_config.use_cache = False
    control = callbacks.call("on_init_end", None, trainer_state, control)
    return {
        "model": model,
        "accelerator": accelerator,
        "num_parameters": num_parameters,
        "label_names": label_names,
        "accepts_loss_kwargs": accepts_loss_kwargs,
        "collator": collator,
        "callbacks": callbacks,
        "state": trainer_state,
        "control": control,
    }


def run(settings: Settings | None = None) -> Section:
    """Added milliseconds per set-up at each model size, and how flat they stay."""
    import torch

    from fsm import InitConfig, TrainerInit

    settings = settings or Settings()
    section = Section("2, 7", "The machine's own overhead vs a hand-written set-up, by model size")
    sizes = _QUICK_SIZES if settings.quick else MODEL_SIZES
    reps = settings.reps(25, 3)
    added: dict[str, float] = {}
    raw: dict[str, Any] = {}
    kwargs = fsm_kwargs(log=False, audit=False)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        output_dir = str(Path(tmp) / "out")
        data = torch.utils.data.TensorDataset(torch.zeros(256, 1))
        models = {size: build_stack(width, depth) for size, (width, depth) in sizes.items()}
        subjects: dict[str, Any] = {}
        for size, model in models.items():

            def fsm(model: Any = model) -> Any:
                config = InitConfig(output_dir=output_dir, use_cpu=True, report_to="none", seed=42)
                return TrainerInit(config, model=model, train_dataset=data, **kwargs).run()

            def hand(model: Any = model) -> Any:
                return handwritten_setup(model, data, output_dir)

            subjects[f"{size}/fsm"], subjects[f"{size}/handwritten"] = fsm, hand
        # every size in one round-robin, so that the machine's drift hits all sizes alike
        times = interleaved(subjects, reps, warmup=settings.reps(3, 1))
        for size, model in models.items():
            fsm_times, hand_times = times[f"{size}/fsm"], times[f"{size}/handwritten"]
            added[size] = paired_median_difference(fsm_times, hand_times)
            raw[size] = {
                "parameters": sum(p.numel() for p in model.parameters()),
                "megabytes": model_bytes(model) / 2**20,
                "fsm_median_s": median(fsm_times),
                "handwritten_median_s": median(hand_times),
                "added_s": added[size],
            }
        del models, subjects
    section.raw.update(reps=reps, sizes=raw)
    for size, info in raw.items():
        ms = added[size] * 1e3
        ratio = info["fsm_median_s"] / info["handwritten_median_s"]
        section.rows.append(
            Row(
                f"overhead.{size}",
                f"added per set-up, subscribers off, {size} model ({_count(info['parameters'])} params)",
                ms,
                "ms",
                "< 1 ms",
                ms < 1.0,
                f"{ratio:.2f}x the hand-written {info['handwritten_median_s'] * 1e3:.2f} ms",
            )
        )
    spread = (max(added.values()) - min(added.values())) * 1e3
    section.rows.append(
        Row(
            "overhead.flat",
            "added time, largest minus smallest over the 3 sizes",
            spread,
            "ms",
            "< 1 ms",
            spread < 1.0,
            "flat as the model grows" if spread < 1.0 else "grows with the model",
        )
    )
    section.details.append(f"Medians over {reps} paired repetitions (trainer-fsm, then the hand-written script):")
    section.details.append("")
    section.details.append("| model | parameters | MB | hand-written | trainer-fsm | added (paired median) |")
    section.details.append("|---|---:|---:|---:|---:|---:|")
    for size, info in raw.items():
        section.details.append(
            f"| {size} | {info['parameters']:,} | {info['megabytes']:.1f} | "
            f"{info['handwritten_median_s'] * 1e3:.3f} ms | {info['fsm_median_s'] * 1e3:.3f} ms | "
            f"{info['added_s'] * 1e3:.3f} ms |"
        )
    return section


def _count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)
