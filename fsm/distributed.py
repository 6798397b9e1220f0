"""Distributed set-up: every rank agrees on each phase's outcome, promptly.

Under ``torchrun`` (or ``accelerate launch``, which starts its processes through
torchrun) every process builds its own `TrainerInit` and runs the eleven phases. After
each phase attempt the ranks exchange their outcome, so that a failure on any rank fails
that phase on every rank at once, with a `RemotePhaseError` naming the rank and its
error, instead of leaving the other ranks blocked in the next collective until the
process group's timeout. Every rank then rolls the phase back; a retry is decided
together (only when every failure is transient and every rank has attempts left), so
the ranks retry, fail or go on in step.

The exchange goes through the launcher's c10d ``TCPStore`` at
``MASTER_ADDR:MASTER_PORT``, not through the process group:

* the store exists before the process group, so the seed phase is agreed on exactly
  like the later ones, and so is the accelerate phase, which creates the group (see
  below for a rank that fails there before joining it);
* a wait on the store has a timeout of our choosing, and afterwards we can tell which
  rank never reported (`AgreementTimeoutError` names it), which a collective cannot;
* it works the same whatever the backend (gloo, nccl) and costs a few small messages.

Under torchrun the elastic agent hosts the store (``TORCHELASTIC_USE_AGENT_STORE``) and
every rank is a client. With a hand-made launch (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT`` set by you), rank 0 hosts a multi-tenant store on that
port, which torch's own ``env://`` rendezvous then shares. Two things make that safe:

* the server lives as long as rank 0's process. A multi-tenant ``TCPStore`` server is
  shared by the ``TCPStore`` objects of one process on that port, but only while one of
  them exists: when the last is dropped the server stops, its keys are gone, the other
  ranks' connections break (``DistNetworkError: Broken pipe``), and the next host on the
  port starts an empty one. So the first host is kept for the life of the process
  (`_HOSTS`), and every `RankAgreement`, and the rendezvous, share that one server;
* a client makes sure it reached that server, not one that anything else in rank 0's
  process hosted on the port earlier and is about to drop (a rank that starts faster
  may connect in between): rank 0 writes ``trainer_fsm/<launch>/<restart>/host`` once
  its server is up, and a client waits for that key, connecting again if the
  connection breaks, all within the agreement timeout.

One round of agreement, for a phase attempt:

1. each rank puts its outcome under ``<prefix>/phase/<round>/<rank>``;
2. each rank waits (up to the agreement timeout) until every rank's outcome is there;
3. each rank computes the verdict from the outcomes (or a timeout verdict naming the
   missing ranks) and proposes it with ``compare_set`` on ``<prefix>/phase/<round>/verdict``:
   the first proposal wins and every rank acts on the stored one, so even a rank that
   reports after another gave up acts on the same verdict.

A rank whose phase failed while it has no process group yet does not wait in step 2:
the other ranks may be blocked in the group's rendezvous (inside the accelerate phase),
waiting for it, and cannot report until it joins. It decides from the outcomes already
there and proposes that verdict; a transient failure is retried, and the retry joins
the rendezvous, so the others finish their attempt, read the stored verdict and retry
too. A final failure ends that rank's script, and torchrun stops the others.

The run_id is agreed the same way when `TrainerInit` is built (the first rank's proposal
wins), so every event of every rank, from ``InitStarted`` on, carries the same run_id.

What the ranks must do alike: build the same `TrainerInit`s in the same order and call
the same methods (`run`, `retry`, `resume`, `reconfigure`). Keys are scoped by the
launch (``TORCHELASTIC_RUN_ID``), the restart count, and the number of the `TrainerInit`
in the process.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from events.redact import scrub_text
from fsm.exceptions import AgreementTimeoutError, ConfigError, RemotePhaseError

if TYPE_CHECKING:
    from fsm.config import InitConfig
    from fsm.machine import TrainerInit

__all__ = ["LaunchInfo", "RankAgreement", "format_summary", "gather_summary"]

LAUNCH_ENV_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "TORCHELASTIC_RESTART_COUNT",
    "TORCHELASTIC_USE_AGENT_STORE",
)
"""The launcher's environment variables this module reads."""

# The number of the next distributed `TrainerInit` built in this process: part of the
# store keys, so that several set-ups in one launch do not read each other's outcomes.
_INSTANCES = itertools.count()

# Rank 0's hosted store per (MASTER_ADDR, MASTER_PORT, launch key), kept for the life of
# the process (a hand-made launch only): it keeps the multi-tenant server, and its keys,
# alive for every `RankAgreement` and for torch's env:// rendezvous, which share it.
_HOSTS: dict[tuple[str, int, str], Any] = {}

# How long a client waits before connecting again after its connection broke.
_RECONNECT_DELAY_S = 0.05


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        msg = (
            f"environment variable {name}={raw!r} is not an integer; it is set by the launcher "
            "(torchrun, accelerate launch): unset it to run a single process"
        )
        raise ConfigError(msg) from None


@dataclass(frozen=True)
class LaunchInfo:
    """Where this process stands in its launch, as torchrun's environment says."""

    rank: int = 0
    world_size: int = 1
    master_addr: str | None = None
    master_port: int | None = None
    launch_id: str = "local"
    restart_count: int = 0
    agent_store: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LaunchInfo:
        """Read ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT`` and torchrun's variables.

        Raises:
            ConfigError: a variable is malformed, the rank is outside the world, or a
                multi-process world lacks ``MASTER_ADDR``/``MASTER_PORT``.
        """
        env = os.environ if environ is None else environ
        rank = _int_env(env, "RANK", 0)
        world_size = _int_env(env, "WORLD_SIZE", 1)
        if world_size < 1 or not 0 <= rank < world_size:
            msg = (
                f"RANK={rank} and WORLD_SIZE={world_size} from the environment do not fit "
                "(need 0 <= RANK < WORLD_SIZE); launch with torchrun or accelerate launch, "
                "or unset them to run a single process"
            )
            raise ConfigError(msg)
        port = _int_env(env, "MASTER_PORT", -1)
        addr = env.get("MASTER_ADDR") or None
        if world_size > 1 and (addr is None or port < 0):
            missing = " and ".join(n for n, v in (("MASTER_ADDR", addr), ("MASTER_PORT", port >= 0)) if not v)
            msg = (
                f"WORLD_SIZE={world_size} but {missing} is not set, so the ranks cannot reach each other; "
                "launch with `torchrun --nproc_per_node N script.py` (or `accelerate launch`), "
                "which sets them"
            )
            raise ConfigError(msg)
        return cls(
            rank=rank,
            world_size=world_size,
            master_addr=addr,
            master_port=port if port >= 0 else None,
            launch_id=env.get("TORCHELASTIC_RUN_ID") or "local",
            restart_count=_int_env(env, "TORCHELASTIC_RESTART_COUNT", 0),
            agent_store=env.get("TORCHELASTIC_USE_AGENT_STORE") == "True",
        )

    @property
    def is_distributed(self) -> bool:
        """Whether several processes take part."""
        return self.world_size > 1


class RankAgreement:
    """The ranks of one set-up agreeing on its run_id and on each phase's outcome.

    `TrainerInit` builds one (``TrainerInit(..., agreement_timeout=...)``); in a single
    process every method is a no-op that returns the local outcome.

    Args:
        launch: this process's place in the launch (read from the environment by default).
        timeout: seconds a rank waits for the others' outcome of a phase; None means the
            config's ``ddp_timeout``, the time a collective would have waited anyway.
        store: a c10d store to use instead of connecting to ``MASTER_ADDR:MASTER_PORT``.
        instance: which set-up of the launch this is (scopes the store keys); by default
            the number of distributed `RankAgreement`s built before in this process.
    """

    def __init__(
        self,
        launch: LaunchInfo | None = None,
        *,
        timeout: float | None = None,
        store: Any = None,
        instance: int | None = None,
    ) -> None:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf
        ):
            msg = (
                f"agreement_timeout={timeout!r} must be a positive number of seconds, "
                "or None to use the config's ddp_timeout"
            )
            raise ConfigError(msg)
        self.launch = launch if launch is not None else LaunchInfo.from_env()
        self.timeout = None if timeout is None else float(timeout)
        self._store = store
        self._rounds = itertools.count()
        self._gathers = itertools.count()
        self._prefix = ""
        if self.launch.is_distributed:
            launch = self.launch
            number = next(_INSTANCES) if instance is None else instance
            self._prefix = f"trainer_fsm/{launch.launch_id}/{launch.restart_count}/{number}"

    # ------------------------------------------------------------ reading

    @property
    def active(self) -> bool:
        """Whether there are other ranks to agree with."""
        return self.launch.is_distributed

    @property
    def rank(self) -> int:
        """This process's global rank."""
        return self.launch.rank

    @property
    def world_size(self) -> int:
        """The number of processes in the launch."""
        return self.launch.world_size

    def timeout_for(self, config: InitConfig) -> float:
        """The agreement timeout in force: the one given, else ``config.ddp_timeout``."""
        return self.timeout if self.timeout is not None else float(config.ddp_timeout)

    # ------------------------------------------------------------ agreeing

    def run_id(self, timeout: float) -> str | None:
        """The run_id every rank uses (the first proposal wins); None in a single process."""
        if not self.active:
            return None
        stored = self._connect(timeout).compare_set(f"{self._prefix}/run_id", "", uuid.uuid4().hex)
        return _text(stored)

    def agree(
        self, trigger: str, attempt: int, error: Exception | None, *, policy: Any, timeout: float
    ) -> Exception | None:
        """Exchange this rank's outcome of a phase attempt; return the error to act on.

        None when the phase succeeded on every rank. Otherwise a `RemotePhaseError`
        naming the first failed rank (its ``__cause__`` is `error` on a rank that failed
        itself) with the retry decision of all ranks, or an `AgreementTimeoutError`
        naming the ranks that did not report within `timeout` seconds.
        """
        if not self.active:
            return error
        key = f"{self._prefix}/phase/{next(self._rounds)}"
        outcome = self._outcome(trigger, attempt, error, policy)
        try:
            verdict = self._exchange(key, outcome, timeout)
        except AgreementTimeoutError as exc:  # the store could not be reached
            exc.phase, exc.attempt = trigger, attempt
            exc.__cause__ = error or exc.__cause__
            return exc
        except Exception as exc:  # the store went away (e.g. the launcher's agent died)
            msg = (
                f"phase {trigger!r} (attempt {attempt}): rank {self.rank} lost contact with the launcher's store "
                f"while exchanging outcomes ({type(exc).__name__}: {exc}); the other ranks' outcomes are unknown"
            )
            lost = AgreementTimeoutError(msg, phase=trigger, attempt=attempt, missing=(), timeout=timeout)
            lost.__cause__ = error or exc
            return lost
        return _error_for(verdict, error, self.world_size)

    def gather(self, payload: Mapping[str, Any], *, timeout: float) -> list[dict[str, Any]] | None:
        """Send `payload` to the main process; there, return every rank's, by rank.

        Other ranks get None, once the main process has every row (so that they do not
        exit, and make torchrun stop the main process, before it has them). A rank that
        does not report within `timeout` seconds appears as
        ``{"rank": r, "state": "unknown", "error": "..."}``.
        """
        row = {**payload, "rank": self.rank}
        if not self.active:
            return [row]
        store = self._connect(timeout)
        key = f"{self._prefix}/gather/{next(self._gathers)}"
        store.set(f"{key}/{self.rank}", json.dumps(row, default=str))
        if self.rank != 0:
            # Wait until the main process has the rows: a rank that exits first (with an
            # error status) would make torchrun stop the main process before it reports.
            with contextlib.suppress(Exception):
                store.wait([f"{key}/done"], timedelta(seconds=timeout))
            return None
        rows, missing = self._collect(store, key, timeout)
        store.set(f"{key}/done", "1")
        rows += [{"rank": r, "state": "unknown", "error": f"did not report within {timeout:g}s"} for r in missing]
        return sorted(rows, key=lambda r: r["rank"])

    # ------------------------------------------------------------ internals

    def _exchange(self, key: str, outcome: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One round: put this rank's outcome, collect the others', settle the verdict."""
        store = self._connect(timeout)
        store.set(f"{key}/{self.rank}", json.dumps(outcome))
        if not outcome["ok"] and not _has_process_group():
            # The others may be blocked in the process group's rendezvous, which this rank
            # has not reached (its accelerate phase failed before): they cannot report
            # until it joins. So it does not wait: it decides from the outcomes already
            # there, and joins the rendezvous when it retries.
            outcomes, _ = self._collect(store, key, 0.0)
            missing: tuple[int, ...] = ()
        else:
            outcomes, missing = self._collect(store, key, timeout)
        proposal = _verdict(outcome["phase"], outcome["attempt"], outcomes, missing, timeout)
        stored = store.compare_set(f"{key}/verdict", "", json.dumps(proposal, sort_keys=True))
        return json.loads(_text(stored))

    def _connect(self, timeout: float) -> Any:
        if self._store is not None:
            return self._store
        launch = self.launch
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:  # a client reconnects while its connection breaks, until the deadline
            try:
                self._store = self._open(max(deadline - time.monotonic(), 0.001), timeout)
                return self._store
            except Exception as exc:
                last = exc
            if launch.rank == 0 and not launch.agent_store:
                break  # the host: nothing to reconnect to
            if time.monotonic() + _RECONNECT_DELAY_S >= deadline:
                break
            time.sleep(_RECONNECT_DELAY_S)
        where = f"{launch.master_addr}:{launch.master_port}"
        msg = (
            f"rank {launch.rank} could not reach the launcher's store at {where} within {timeout:g}s "
            f"({type(last).__name__}: {last}); check MASTER_ADDR/MASTER_PORT, or launch with torchrun"
        )
        host_rank = () if launch.agent_store else (0,)  # rank 0 hosts the store without an agent
        raise AgreementTimeoutError(msg, phase="", attempt=0, missing=host_rank, timeout=timeout) from last

    def _open(self, remaining: float, timeout: float) -> Any:
        """A connection to the store: the agent's under torchrun, else the one rank 0 hosts."""
        from torch.distributed import TCPStore

        launch = self.launch
        addr, port = launch.master_addr, launch.master_port
        if launch.agent_store:  # torchrun's agent hosts it for the whole launch
            return TCPStore(addr, port, None, False, timedelta(seconds=remaining), wait_for_workers=False)
        ready = f"trainer_fsm/{launch.launch_id}/{launch.restart_count}/host"
        if launch.rank == 0 and (addr, port, ready) not in _HOSTS:
            # The same parameters as torch's env:// rendezvous (multi-tenant, libuv), so that
            # it shares this server; no world size, so that we do not count as one of its
            # workers. Kept for the life of the process: the server, and its keys, with it.
            keeper = TCPStore(
                addr,
                port,
                None,
                True,
                timedelta(seconds=timeout),
                wait_for_workers=False,
                multi_tenant=True,
                use_libuv=True,
            )
            keeper.set(ready, str(os.getpid()))
            _HOSTS[addr, port, ready] = keeper
        # This agreement's own connection (rank 0's too: it may run in another thread).
        store = TCPStore(addr, port, None, False, timedelta(seconds=remaining), wait_for_workers=False)
        # Connected, but maybe to a server that rank 0's process is about to drop (hosted
        # there by something else, earlier): only rank 0's own has this key. A wait on a
        # server that goes away fails at once, and the caller connects again.
        store.wait([ready], timedelta(seconds=max(remaining, 0.001)))
        store.set_timeout(timedelta(seconds=timeout))
        return store

    def _outcome(self, trigger: str, attempt: int, error: Exception | None, policy: Any) -> dict[str, Any]:
        max_attempts = getattr(policy, "max_attempts", 1)
        return {
            "rank": self.rank,
            "phase": trigger,
            "attempt": attempt,
            "ok": error is None,
            "error_type": type(error).__name__ if error is not None else None,
            "error": scrub_text(str(error)) if error is not None else None,
            # this rank's own retry decision, taken with its real exception
            "transient": bool(policy.should_retry(error, attempt)) if error is not None else False,
            "attempts_left": attempt < max_attempts,
            # a phase may itself report another rank's failure (e.g. the main process's)
            "secondary": isinstance(error, RemotePhaseError),
        }

    def _collect(self, store: Any, key: str, timeout: float) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
        keys = [f"{key}/{r}" for r in range(self.world_size)]
        missing: tuple[int, ...] = ()
        try:
            if timeout <= 0:
                raise TimeoutError  # only what is there already
            store.wait(keys, timedelta(seconds=timeout))
        except Exception:  # the store's wait timed out (DistStoreError) or the store went away
            missing = tuple(r for r, k in enumerate(keys) if not _present(store, k))
        present = [k for r, k in enumerate(keys) if r not in missing]
        return [json.loads(_text(store.get(k))) for k in present], missing


def _has_process_group() -> bool:
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_initialized())


def _present(store: Any, key: str) -> bool:
    try:
        return bool(store.check([key]))
    except Exception:
        return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def _verdict(
    trigger: str, attempt: int, outcomes: list[dict[str, Any]], missing: tuple[int, ...], timeout: float
) -> dict[str, Any]:
    """The round's verdict; from complete outcomes it is the same on every rank."""
    if missing:
        return {"kind": "timeout", "phase": trigger, "attempt": attempt, "missing": list(missing), "timeout": timeout}
    outcomes = sorted(outcomes, key=lambda o: o["rank"])
    positions = {o["rank"]: [o["phase"], o["attempt"]] for o in outcomes}
    if len({tuple(p) for p in positions.values()}) > 1:
        return {"kind": "out_of_step", "phase": trigger, "attempt": attempt, "positions": positions}
    failures = [o for o in outcomes if not o["ok"]]
    if not failures:
        return {"kind": "ok", "phase": trigger, "attempt": attempt}
    primary = [f for f in failures if not f["secondary"]] or failures
    retry = all(f["transient"] for f in primary) and all(o["attempts_left"] for o in outcomes)
    return {
        "kind": "failed",
        "phase": trigger,
        "attempt": attempt,
        "failures": [{"rank": f["rank"], "error_type": f["error_type"], "error": f["error"]} for f in primary],
        "retry": retry,
    }


def _error_for(verdict: dict[str, Any], local: Exception | None, world_size: int) -> Exception | None:
    phase, attempt, kind = verdict["phase"], verdict["attempt"], verdict["kind"]
    if kind == "ok":
        return local
    err: RemotePhaseError
    if kind == "timeout":
        missing = tuple(verdict["missing"])
        names = ", ".join(str(r) for r in missing)
        msg = (
            f"phase {phase!r} (attempt {attempt}): rank{'s' if len(missing) > 1 else ''} {names} of {world_size} "
            f"did not report an outcome within {verdict['timeout']:g}s (agreement_timeout); it may have "
            "crashed, hung in the phase, or be running another phase"
        )
        err = AgreementTimeoutError(msg, phase=phase, attempt=attempt, missing=missing, timeout=verdict["timeout"])
    elif kind == "out_of_step":
        where = ", ".join(f"rank {r} ran {p[0]!r} attempt {p[1]}" for r, p in sorted(verdict["positions"].items()))
        first = min(int(r) for r, p in verdict["positions"].items() if p != [phase, attempt])
        msg = (
            f"the ranks are out of step ({where}); every rank must build the same TrainerInit "
            "and call the same methods (run, retry, resume, reconfigure)"
        )
        err = RemotePhaseError(msg, phase=phase, attempt=attempt, rank=first)
    else:
        failures = verdict["failures"]
        first = failures[0]
        msg = f"phase {phase!r} failed on rank {first['rank']} of {world_size}: {first['error_type']}: {first['error']}"
        for other in failures[1:]:
            msg += f"; and on rank {other['rank']}: {other['error_type']}: {other['error']}"
        err = RemotePhaseError(
            msg,
            phase=phase,
            attempt=attempt,
            rank=first["rank"],
            failures={f["rank"]: f"{f['error_type']}: {f['error']}" for f in failures},
            agreed_retry=bool(verdict["retry"]),
        )
    err.__cause__ = local
    return err


# ---------------------------------------------------------------- summaries


def gather_summary(init: TrainerInit, *, timeout: float | None = None) -> list[dict[str, Any]] | None:
    """Every rank's state, gathered to the main process (rank 0); None on the others.

    Call it on every rank, e.g. after `run()` returned or raised. Each row holds the
    rank, run_id, state, failed phase and error (secrets scrubbed), host and pid, and
    the audit file when there is one. In a single process it returns one row.
    """
    agreement: RankAgreement = init._ranks
    error = init.error
    setup = init.setup
    payload = {
        "rank": agreement.rank,
        "world_size": agreement.world_size,
        "run_id": init.bus.run_id,
        "state": init.state,
        "failed_phase": init.failed_phase,
        "error": scrub_text(f"{type(error).__name__}: {error}") if error is not None else None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "audit_path": str(getattr(setup, "audit_path", None) or "") or None,
        "time": time.time(),
    }
    return agreement.gather(payload, timeout=timeout if timeout is not None else agreement.timeout_for(init.config))


def format_summary(rows: list[dict[str, Any]]) -> str:
    """`gather_summary`'s rows as a small text table, one line per rank."""
    lines = []
    for row in rows:
        line = f"rank {row['rank']}: {row.get('state', 'unknown')}"
        if row.get("failed_phase"):
            line += f" (failed in {row['failed_phase']!r})"
        if row.get("error"):
            line += f": {row['error']}"
        lines.append(line)
    return "\n".join(lines)
