"""Rules on precision: one mixed-precision mode, and hardware that takes it.

The hardware rules predict what the `accelerate` phase would meet (see
`fsm.guards.Hardware`): accelerate refuses fp16 on a device where autocast cannot run
it and bf16 on a device without bf16 support, and transformers refuses tf32 without an
Ampere-or-newer CUDA GPU. On CPU, accelerate (1.x) accepts fp16 and bf16, so these
rules do too. They import torch only when one of these modes is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule

__all__: list[str] = []


@rule("precision.fp16_with_bf16", fields=("fp16", "bf16"))
def fp16_with_bf16(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fp16 and bf16 are not both on."""
    if s.config.fp16 and s.config.bf16:
        yield (
            "fp16=True and bf16=True: at most one mixed-precision mode can be on",
            "keep bf16=True where the hardware has it (Ampere GPUs, CPU), else fp16=True",
        )


@rule("precision.full_eval_exclusive", fields=("fp16_full_eval", "bf16_full_eval"))
def full_eval_exclusive(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fp16_full_eval and bf16_full_eval are not both on."""
    if s.config.fp16_full_eval and s.config.bf16_full_eval:
        yield (
            "fp16_full_eval=True and bf16_full_eval=True: the model can be cast to one dtype for evaluation",
            "keep one of fp16_full_eval and bf16_full_eval",
        )


@rule("precision.bf16_unsupported", fields=("bf16", "bf16_full_eval", "use_cpu"))
def bf16_unsupported(s: GuardSubject) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """bf16 (training or full eval) runs on a device that supports bf16."""
    c = s.config
    for name in ("bf16", "bf16_full_eval"):
        if getattr(c, name):
            hardware = s.target()
            if not hardware.bf16:
                yield (
                    f"{name}=True but the {hardware.device_type!r} device does not support bf16 "
                    "(CUDA needs an Ampere or newer GPU)",
                    "use fp16=True on this GPU, or use_cpu=True to train in bf16 on the CPU",
                    (name, "use_cpu"),
                )


@rule("precision.fp16_unsupported", fields=("fp16", "use_cpu"))
def fp16_unsupported(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """fp16 mixed precision runs on a device where accelerate supports it."""
    if s.config.fp16:
        hardware = s.target()
        if not hardware.fp16:
            yield (
                f"fp16=True but accelerate does not support fp16 mixed precision on the "
                f"{hardware.device_type!r} device",
                "drop fp16 (or use bf16=True if the device has it), or run on a CUDA GPU",
            )


@rule("precision.tf32_unsupported", fields=("tf32", "use_cpu"))
def tf32_unsupported(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """tf32=True needs an Ampere-or-newer CUDA GPU."""
    if s.config.tf32:
        hardware = s.target()
        if not hardware.tf32:
            yield (
                f"tf32=True but the {hardware.device_type!r} device has no TF32 (it needs an Ampere or newer CUDA GPU)",
                "leave tf32=None (the default) or set tf32=False on this machine",
            )
