"""4. Recovery: retrying a late phase vs setting everything up again.

The model comes from a `model_init` that builds a few hundred MB of parameters (a
stack of 2048-wide Linear layers, about 84 M float32 parameters, 320 MB), so model
resolution is the expensive phase, as it is when weights are built or loaded.

* ``retry``: ``prepare_output`` is replaced by a phase that fails once with a
  non-transient error (PermissionError, EACCES: the default retry policy fails it at
  once), so the machine stops in Failed; then ``init.retry()`` re-runs that phase and
  ``init.resume()`` runs the remaining two to Ready. Only that recovery is timed.
* ``full``: a fresh ``TrainerInit(...).run()`` with the same model_init, as a user
  without recovery would do after the failure.

Both log through a structlog subscriber at warning level (the default's), rendered
into a null stream so the failure does not clutter the table; the audit log is on when
the checkout has it.

Target: the recovery under 2% of a full set-up.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._core import Row, Section, Settings, build_stack, median, reset_accelerate
from handlers.output import PrepareOutputPhase

__all__ = ["FailOnce", "run"]

_FULL_SIZE = (2048, 20)
_QUICK_SIZE = (128, 4)


class FailOnce(PrepareOutputPhase):
    """`prepare_output` that raises a non-transient PermissionError on its first run, then works."""

    def __init__(self) -> None:
        self.failed = False

    def run(self, ctx: Any) -> Any:
        if not self.failed:
            self.failed = True
            msg = "benchmark: output_dir not writable (injected once)"
            raise PermissionError(errno.EACCES, msg)
        return super().run(ctx)


def run(settings: Settings | None = None) -> Section:
    """Time recovery (retry + resume) and full set-ups, alternating; report the ratio."""
    from bench.bench_setup import NullStream
    from events.log import StructlogSubscriber
    from fsm import InitConfig, PhaseError, TrainerInit

    settings = settings or Settings()
    section = Section("4", "Recovery: retry a late phase vs a full set-up (expensive model_init)")
    width, depth = _QUICK_SIZE if settings.quick else _FULL_SIZE
    reps = settings.reps(5, 1)
    retry_times: list[float] = []
    full_times: list[float] = []
    model_mb = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp:
        config = InitConfig(output_dir=str(Path(tmp) / "out"), use_cpu=True, report_to="none")

        def quiet_log() -> Any:  # the default subscriber's work, written to a null stream
            return StructlogSubscriber(renderer="console", level="warning", stream=NullStream())

        def model_init() -> Any:
            return build_stack(width, depth)

        for _ in range(reps):
            reset_accelerate()
            gc.collect()
            init = TrainerInit(config, model_init=model_init, handlers={"prepare_output": FailOnce()}, log=quiet_log())
            with contextlib.suppress(PhaseError):
                init.run()
            if init.state != "Failed" or init.failed_phase != "prepare_output":
                msg = f"the injected failure did not stop the machine in Failed (state {init.state})"
                raise RuntimeError(msg)
            started = time.perf_counter()
            init.retry()
            setup = init.resume()
            retry_times.append(time.perf_counter() - started)
            model_mb = sum(p.numel() * p.element_size() for p in setup.model.parameters()) / 2**20
            del init, setup
            reset_accelerate()
            gc.collect()
            started = time.perf_counter()
            setup = TrainerInit(config, model_init=model_init, log=quiet_log()).run()
            full_times.append(time.perf_counter() - started)
            del setup
        reset_accelerate()
        gc.collect()
    retry_s, full_s = median(retry_times), median(full_times)
    ratio = retry_s / full_s
    section.raw = {"reps": reps, "model_mb": model_mb, "retry_median_s": retry_s, "full_median_s": full_s}
    section.rows.append(
        Row(
            "recovery.retry_vs_full",
            f"retry prepare_output + resume / full set-up ({model_mb:.0f} MB model_init)",
            ratio,
            "x",
            "< 0.02x",
            ratio < 0.02,
            f"{retry_s * 1e3:.2f} ms vs {full_s * 1e3:.0f} ms",
        )
    )
    section.details.append(
        f"Medians over {reps} repetitions, model_init building {model_mb:.0f} MB of parameters "
        f"({width}x{width} Linear layers, depth {depth}):"
    )
    section.details.append("")
    section.details.append(f"- recovery (`retry()` + `resume()` to Ready): {retry_s * 1e3:.3f} ms")
    section.details.append(f"- full set-up again (`TrainerInit(...).run()`): {full_s * 1e3:.1f} ms")
    return section
