"""Set-up scenarios run on every rank of a 2-process torchrun launch (CPU, gloo).

    torchrun --standalone --nproc_per_node 2 tests/distributed/_scenarios.py OUT NAME [NAME ...]

Each scenario builds a real `TrainerInit` (tiny MLP, `InitConfig(use_cpu=True)`) on
every rank, injects its failure on one rank only, and writes what this rank saw to
``OUT/<name>.rank<r>.json``: the final state, the error and its chain, every event, the
time it took. `test_torchrun.py` launches this once and asserts on those files. The
scenarios run in one launch, in the order given, each with its own `TrainerInit` (the
process group, once created, is reused by the next ones).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import accelerate.utils  # noqa: F401  (imported up front: a scenario's time is not an import)
import torch

from events.testing import capture_events
from fsm import NO_RETRY, AsyncTrainerInit, InitConfig, RetryPolicy, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP
from fsm.distributed import format_summary, gather_summary
from handlers import AcceleratePhase, PlacePhase, PrepareOutputPhase, SeedPhase
from handlers.introspection import IntrospectPhase

RANK = int(os.environ["RANK"])
FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05)


class InjectedError(RuntimeError):
    """The failure a scenario injects on one rank."""


def _rank_of(ctx: Any) -> int:
    return ctx.accelerator.process_index if ctx.accelerator is not None else RANK


class FailingSeed(SeedPhase):
    """Seed phase that fails on rank 1, before any process group exists."""

    def run(self, ctx: Any) -> Any:
        if RANK == 1:
            raise InjectedError("seed failed on this rank")
        return super().run(ctx)


class FlakyAccelerate(AcceleratePhase):
    """accelerate phase that fails once on rank 1 before it creates the process group,
    while rank 0 is already waiting in the group's rendezvous."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, ctx: Any) -> Any:
        self.calls += 1
        if RANK == 1 and self.calls == 1:
            raise ConnectionError("device busy while starting up")
        return super().run(ctx)


class FailingPlace(PlacePhase):
    """Place phase that fails on rank 1 (`times` times, then succeeds)."""

    def __init__(self, times: int = 1_000_000, error: type[Exception] = InjectedError) -> None:
        self.times, self.error = times, error

    def run(self, ctx: Any) -> Any:
        if _rank_of(ctx) == 1 and self.times > 0:
            self.times -= 1
            raise self.error("device move refused on this rank")
        return super().run(ctx)


class FailingOutputOnRank1(PrepareOutputPhase):
    """prepare_output that fails on rank 1 after it saw the main process's result."""

    def run(self, ctx: Any) -> Any:
        fact = super().run(ctx)
        if _rank_of(ctx) == 1:
            raise InjectedError("output dir not usable on this rank")
        return fact


class FailingOutputOnMain(PrepareOutputPhase):
    """prepare_output whose main-process-only work fails (inside the main-only block)."""

    def prepare_on_main(self, ctx: Any, output_dir: Path) -> Any:
        created = super().prepare_on_main(ctx, output_dir)
        raise InjectedError("hub repository refused on the main process")
        return created  # pragma: no cover


class SlowIntrospect(IntrospectPhase):
    """introspect that takes `seconds` on rank 1: longer than the agreement timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, ctx: Any) -> Any:
        if _rank_of(ctx) == 1:
            time.sleep(self.seconds)
        return super().run(ctx)


def _model_init_failing_on_rank1() -> TinyMLP:
    if RANK == 1:
        raise ValueError("model weights unreadable on this rank")
    return TinyMLP()


class _FlakyModelInit:
    """model_init that raises ConnectionError once on rank 1 (a download hiccup)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> TinyMLP:
        self.calls += 1
        if RANK == 1 and self.calls == 1:
            raise ConnectionError("connection reset while downloading weights")
        return TinyMLP()


def _config(out: Path, name: str) -> InitConfig:
    return InitConfig(output_dir=str(out / name / "run"), use_cpu=True, per_device_train_batch_size=4)


def scenario(out: Path, name: str) -> dict[str, Any]:
    """Run scenario `name`; returns what this rank saw."""
    flaky = _FlakyModelInit()
    kwargs: dict[str, Any] = {"model": TinyMLP(), "train_dataset": SyntheticRegression(16), "retry": FAST}
    timeout = 60.0
    if name == "fail_seed":
        kwargs["handlers"] = {"seed": FailingSeed()}
    elif name == "transient_accelerate":
        kwargs["handlers"] = {"accelerate": FlakyAccelerate()}
    elif name == "fail_resolve_model":
        kwargs.update(model=None, model_init=_model_init_failing_on_rank1)
    elif name in ("fail_place", "async_fail_place"):
        kwargs["handlers"] = {"place": FailingPlace()}
    elif name == "fail_prepare_output":
        kwargs["handlers"] = {"prepare_output": FailingOutputOnRank1()}
    elif name == "fail_main_output":
        kwargs["handlers"] = {"prepare_output": FailingOutputOnMain()}
    elif name == "transient":
        kwargs.update(model=None, model_init=flaky)
    elif name == "resume":
        kwargs.update(handlers={"place": FailingPlace(times=1, error=ValueError)}, retry=NO_RETRY)
    elif name == "timeout":
        timeout = 1.5
        kwargs["handlers"] = {"introspect": SlowIntrospect(seconds=4.0)}
    elif name == "hub":  # HF_ENDPOINT: the test's local hub, which answers 503 once first
        kwargs["config"] = _config(out, name).replace(push_to_hub=True, hub_model_id="team/tiny")
    elif name != "ready":
        raise SystemExit(f"unknown scenario {name!r}")

    if name != "ready":  # "ready" keeps the default: <output_dir>/trainer_fsm_audit[_rank<r>].jsonl
        # a failed set-up may never create output_dir: give the audit log a directory that exists
        (out / name).mkdir(exist_ok=True)
        kwargs["audit"] = str(out / name / "audit.jsonl")
    result: dict[str, Any] = {"rank": RANK, "scenario": name}
    with capture_events() as events:
        started = time.monotonic()
        config = kwargs.pop("config", None) or _config(out, name)
        machine = AsyncTrainerInit if name.startswith("async_") else TrainerInit
        init = machine(config, log=False, agreement_timeout=timeout, **kwargs)
        try:
            if isinstance(init, AsyncTrainerInit):
                asyncio.run(init.run())
            else:
                init.run()
        except Exception as exc:
            result["elapsed_s"] = time.monotonic() - started
            result["error"] = _chain(exc)
            if name == "resume":
                result["state_after_failure"] = init.state
                init.resume()
        else:
            result["elapsed_s"] = time.monotonic() - started
        if name == "resume":  # then a collective reconfigure: a new output_dir on every rank
            init.reconfigure(output_dir=str(out / name / "run2"))
            init.resume()
        summary = gather_summary(init, timeout=30)
    result.update(
        state=init.state,
        failed_phase=init.failed_phase,
        run_id=init.bus.run_id,
        audit_path=str(init.audit.path) if init.audit is not None and init.audit.path is not None else None,
        model_init_calls=flaky.calls,
        output_dir_exists=Path(init.config.resolved_output_dir).is_dir(),
        events=[e.to_dict() for e in events],
        summary=summary,
        summary_text=format_summary(summary) if summary else None,
    )
    _reset_accelerate()
    return result


def _chain(exc: BaseException | None) -> list[dict[str, Any]]:
    """The error and its causes: type, message, and the rank/phase a trainer-fsm error names."""
    chain = []
    while exc is not None:
        chain.append(
            {
                "type": type(exc).__name__,
                "message": str(exc),
                "phase": getattr(exc, "phase", None),
                "rank": getattr(exc, "rank", None),
                "missing": list(getattr(exc, "missing", ()) or ()),
            }
        )
        exc = exc.__cause__
    return chain


def _reset_accelerate() -> None:
    """Forget accelerate's singletons (the process group stays) before the next scenario."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    for shared in (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state):
        shared.clear()


def _wait_for_every_rank() -> None:
    """Start together, so that a scenario's time is not the other process's start-up."""
    from datetime import timedelta

    from torch.distributed import TCPStore

    # under torchrun its agent hosts the store; in a hand-made launch rank 0 does (multi-tenant,
    # shared with trainer-fsm's agreement and torch's env:// rendezvous in this process)
    host = RANK == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    store = TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        None,
        host,
        timedelta(seconds=60),
        wait_for_workers=False,
        multi_tenant=True,
    )
    store.add("scenarios/started", 1)
    deadline = time.monotonic() + 60
    while int(store.add("scenarios/started", 0)) < int(os.environ["WORLD_SIZE"]) and time.monotonic() < deadline:
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    # the first call takes about a second (a lazy import in torch); the seed phase's rollback makes it
    torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())
    _wait_for_every_rank()
    for name in argv[2:]:
        result = scenario(out, name)
        (out / f"{name}.rank{RANK}.json").write_text(json.dumps(result, default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
