"""`TrainerInit`: the set-up of a training run as a `transitions` state machine.

The machine is built from the table in `fsm.phases`: one transition per phase, whose
`before` callback runs the phase (with its retry policy) and whose conditions are the
guards that need an earlier phase's result. `TrainerInit` keeps the `transitions`
machine as an inner part and exposes typed methods: `run`, `step`, `retry`, `resume`,
`reconfigure`.

Failure semantics, written once:

* a phase either completes, or is rolled back (its `rollback` undoes its effects, the
  context's products are restored from the snapshot taken before it) and the machine
  stays where it was;
* a transient error is retried by the trigger's `RetryPolicy` (`PhaseRetrying`);
* a final error moves the machine to ``Failed`` (`PhaseFailed`, `InitFailed`) and raises
  `PhaseError`, with the phase's exception as ``__cause__``;
* an interrupt (KeyboardInterrupt, cancellation) rolls the phase back and re-raises,
  leaving the machine in the last completed state;
* a guard rejection raises `ConfigError` and changes nothing (`GuardRejected`).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from events.bus import EventBus
from events.log import StructlogSubscriber
from events.redact import redact, scrub_text
from events.types import (
    FactEvent,
    GuardRejected,
    InitFailed,
    InitReady,
    InitStarted,
    PhaseCompleted,
    PhaseFailed,
    PhaseRetrying,
    PhaseRolledBack,
    PhaseStarted,
    Reconfigured,
)
from fsm.config import InitConfig
from fsm.distributed import RankAgreement
from fsm.exceptions import ConfigError, PhaseError, StateError
from fsm.guards import GuardSubject, Violation, format_violations, run_rules
from fsm.phases import FAILED, INITIAL, PHASES, READY, STATES, TRIGGERS, PhaseSpec, next_phase, phase_for
from fsm.result import TrainerSetup
from fsm.retry import RetryPlan, RetryPolicy
from handlers import default_phases
from handlers.base import PhaseHandler
from handlers.context import SetupContext, SetupInputs

if TYPE_CHECKING:
    from events.audit import AuditSink

__all__ = ["TrainerInit", "transition_table"]


def transition_table() -> list[dict[str, Any]]:
    """The machine's transitions as `transitions` dicts, derived from `fsm.phases`.

    Forward: one per phase. ``fail``: any state before Ready to Failed. ``rollback``:
    each phase state back to its source (used by `reconfigure`).
    """
    forward = [{"trigger": p.trigger, "source": p.source, "dest": p.dest} for p in PHASES]
    fail = [{"trigger": "fail", "source": [INITIAL, *(p.dest for p in PHASES[:-1])], "dest": FAILED}]
    back = [{"trigger": "rollback", "source": p.dest, "dest": p.source} for p in PHASES]
    return forward + fail + back


def _log_level_for(config: InitConfig) -> str:
    return "warning" if config.log_level == "passive" else config.log_level


def _audit_sink(audit: Any) -> AuditSink | None:
    """The audit sink for `TrainerInit(audit=...)` (imported here: `import fsm` stays cheap)."""
    from events.audit import AuditSink

    if audit is True:
        return AuditSink()
    if audit is False or audit is None:
        return None
    if isinstance(audit, AuditSink):
        return audit
    if isinstance(audit, (str, os.PathLike)) and os.fspath(audit):
        return AuditSink(audit)
    msg = (
        f"audit={audit!r} is not an audit setting: pass True (a log inside output_dir), False (none), "
        "a file path, or an events.audit.AuditSink"
    )
    raise ConfigError(msg)


def _env_rank() -> tuple[int, int]:
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


class _Model:
    """The object whose `state` the inner `transitions` machine drives."""

    state: str


class TrainerInit:
    """Set up a training run in eleven phases, from Uninitialized to Ready.

    Args:
        config: an `InitConfig`, a mapping of its fields, or None for the defaults.
        model: the model to train (a `torch.nn.Module`); or give `model_init`.
        model_init: a function of 0 or 1 argument returning the model, called after
            seeding.
        train_dataset, eval_dataset, data_collator, processing_class, compute_metrics,
        compute_loss_func, preprocess_logits_for_metrics, callbacks, optimizers,
        optimizer_cls_and_kwargs: as in transformers' `Trainer`.
        handlers: replacement phase objects by trigger (``{"place": MyPlace()}``).
        retry: a `RetryPolicy` for every phase, or a mapping per trigger.
        bus: an `EventBus` to emit on (a new one by default).
        log: subscribe a `StructlogSubscriber` (True, the default: at the config's
            log level, warnings when "passive"), a subscriber of your own, or False.
        audit: record the set-up in a tamper-evident audit log (`events.audit`): True
            (the default) writes ``<output_dir>/trainer_fsm_audit.jsonl``, a path writes
            there, an `AuditSink` is used as it is, False records nothing. The sink is
            `init.audit`; its records are also in memory (`init.audit.records`).
        agreement_timeout: in a distributed run, seconds a rank waits for the others'
            outcome of each phase before failing it with `AgreementTimeoutError`
            (default: the config's ``ddp_timeout``). See `fsm.distributed`.

    Example:
        >>> setup = TrainerInit(InitConfig(output_dir="out"), model=model).run()
    """

    bus_cls: type[EventBus] = EventBus
    machine_cls: type[Any] | None = None  # transitions.Machine, imported lazily
    default_sleep: Callable[[float], Any] = staticmethod(time.sleep)  # waits between retries

    def __init__(
        self,
        config: InitConfig | Mapping[str, Any] | None = None,
        *,
        model: Any = None,
        model_init: Callable[..., Any] | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        data_collator: Callable[..., Any] | None = None,
        processing_class: Any = None,
        compute_metrics: Callable[..., Any] | None = None,
        callbacks: Iterable[Any] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        handlers: Mapping[str, PhaseHandler] | None = None,
        compute_loss_func: Callable[..., Any] | None = None,
        preprocess_logits_for_metrics: Callable[..., Any] | None = None,
        optimizer_cls_and_kwargs: tuple[type, dict[str, Any]] | None = None,
        retry: RetryPolicy | Mapping[str, RetryPolicy] | None = None,
        bus: EventBus | None = None,
        log: bool | Callable[[Any], Any] = True,
        agreement_timeout: float | None = None,
        audit: bool | str | os.PathLike[str] | AuditSink = True,
    ) -> None:
        if config is None:
            config = InitConfig()
        elif isinstance(config, Mapping):
            config = InitConfig.from_dict(config)
        elif not isinstance(config, InitConfig):
            msg = f"config must be an InitConfig, a mapping of its fields, or None; got {type(config).__name__}"
            raise ConfigError(msg)
        self._config = config
        if not isinstance(optimizers, tuple) or len(optimizers) != 2:
            msg = "optimizers must be a tuple (optimizer, lr_scheduler); use (None, None) for neither"
            raise ConfigError(msg)
        self.inputs = SetupInputs(
            model=model,
            model_init=model_init,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=data_collator,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            compute_loss_func=compute_loss_func,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
            callbacks=tuple(callbacks) if callbacks is not None else None,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
        )
        self.phases = self._resolve_handlers(handlers)
        self.retry_plan = RetryPlan(retry, TRIGGERS)
        self._ranks = RankAgreement(timeout=agreement_timeout)
        if bus is None:
            rank, world_size = _env_rank()
            run_id = self._ranks.run_id(self._ranks.timeout_for(config))  # the same on every rank
            bus = self.bus_cls(rank=rank, world_size=world_size, run_id=run_id)
        elif not isinstance(bus, self.bus_cls) or bus.accepts_coroutines != self.bus_cls.accepts_coroutines:
            msg = (
                f"bus: {type(self).__name__} delivers events on a {self.bus_cls.__name__}, "
                f"not a {type(bus).__name__}; pass a {self.bus_cls.__name__} or leave bus out"
            )
            raise ConfigError(msg)
        self.bus = bus
        self.context = SetupContext(config=config, inputs=self.inputs, bus=bus)
        if log is True:
            self.bus.subscribe("*", StructlogSubscriber(level=_log_level_for(config)))
        elif callable(log):
            self.bus.subscribe("*", log)
        self.audit: AuditSink | None = _audit_sink(audit)
        if self.audit is not None:
            self.bus.subscribe("*", self.audit, priority=self.audit.priority)
        self.sleep: Callable[[float], Any] = self.default_sleep
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._attempts: dict[str, int] = {}
        self._started_at: float | None = None
        self._failed_phase: str | None = None
        self._error: BaseException | None = None
        self._last_good_state: str | None = None
        self._pending_violations: list[Violation] = []
        self._setup: TrainerSetup | None = None
        self._duration = 0.0
        self._model = _Model()
        self._machine = self._build_machine()

    # ------------------------------------------------------------ construction

    @classmethod
    def _resolve_handlers(cls, handlers: Mapping[str, PhaseHandler] | None) -> dict[str, PhaseHandler]:
        phases = default_phases()
        for trigger, handler in (handlers or {}).items():
            if trigger not in phases:
                msg = f"handlers[{trigger!r}]: no such phase; the triggers are {', '.join(TRIGGERS)}"
                raise ConfigError(msg)
            if not callable(getattr(handler, "run", None)):
                msg = f"handlers[{trigger!r}] must have a run(ctx) method (see handlers.PhaseHandler)"
                raise ConfigError(msg)
            cls._check_handler(trigger, handler)
            phases[trigger] = handler
        return phases

    @classmethod
    def _check_handler(cls, trigger: str, handler: PhaseHandler) -> None:
        """Reject a phase this machine cannot drive (here: a coroutine `run`)."""
        if inspect.iscoroutinefunction(handler.run):
            msg = (
                f"handlers[{trigger!r}].run is a coroutine function; TrainerInit cannot await it. "
                "Use fsm.AsyncTrainerInit, or make run a plain function"
            )
            raise ConfigError(msg)

    def _machine_class(self) -> type[Any]:
        if self.machine_cls is not None:
            return self.machine_cls
        from transitions import Machine

        return Machine

    def _build_machine(self) -> Any:
        table = transition_table()
        for row in table:
            if row["trigger"] in TRIGGERS:
                row["conditions"] = [self._guards_pass]
                row["before"] = [self._run_phase]
                row["after"] = [self._phase_completed]
        return self._machine_class()(
            model=self._model,
            states=list(STATES),
            transitions=table,
            initial=INITIAL,
            auto_transitions=False,
            send_event=True,
        )

    # ------------------------------------------------------------ reading

    @property
    def config(self) -> InitConfig:
        """The config the set-up runs with (changed only by `reconfigure`)."""
        return self._config

    @property
    def state(self) -> str:
        """The current state's name, e.g. ``"Placed"``."""
        return self._model.state

    @property
    def failed_phase(self) -> str | None:
        """The trigger of the phase that failed, while the machine is in Failed."""
        return self._failed_phase

    @property
    def error(self) -> BaseException | None:
        """The exception that made the machine fail, while it is in Failed."""
        return self._error

    @property
    def last_good_state(self) -> str | None:
        """The state reached before the failed phase, while the machine is in Failed."""
        return self._last_good_state

    @property
    def setup(self) -> TrainerSetup | None:
        """The result, once the machine is Ready."""
        return self._setup

    @property
    def next_trigger(self) -> str | None:
        """The trigger `step()` would run next (None when Ready or Failed)."""
        spec = next_phase(self.state)
        return spec.trigger if spec else None

    # ------------------------------------------------------------ driving

    def run(self) -> TrainerSetup:
        """Run every remaining phase to Ready and return the `TrainerSetup`.

        Raises:
            ConfigError: the guards rejected the config or inputs (nothing changed).
            PhaseError: a phase failed for good; the machine is in Failed.
            StateError: the machine is in Failed (call `retry()` or `resume()`).
        """
        while self.state != READY:
            self.step()
        assert self._setup is not None
        return self._setup

    def step(self) -> str:
        """Run exactly one phase; returns the new state's name."""
        self._advance(self._next_spec())
        return self.state

    def _next_spec(self) -> PhaseSpec:
        """The phase `step()` runs (starting the set-up first); StateError when there is none."""
        if self.state == FAILED:
            msg = (
                f"the machine is in Failed (phase {self._failed_phase!r} failed); "
                "call retry() to re-run that phase or resume() to go on to Ready"
            )
            raise StateError(msg)
        if self.state == READY:
            msg = "the machine is already Ready; use init.setup, or reconfigure(...) to change it"
            raise StateError(msg)
        if self.state == INITIAL and self._started_at is None:
            self._start()
        spec = next_phase(self.state)
        assert spec is not None
        return spec

    def retry(self) -> str:
        """Re-run only the phase that failed; returns the new state's name."""
        self._advance(self._retry_spec())
        return self.state

    def _retry_spec(self) -> PhaseSpec:
        """The failed phase, with the failure cleared (back in the last good state)."""
        if self.state != FAILED or self._failed_phase is None:
            msg = f"retry() needs a failed phase, but the machine is in {self.state}; use step() or run()"
            raise StateError(msg)
        spec = phase_for(self._failed_phase)
        self._clear_failure()
        return spec

    def resume(self) -> TrainerSetup:
        """Go on to Ready from wherever the machine is, retrying a failed phase first."""
        if self.state == FAILED:
            self.retry()
        return self.run()

    def reconfigure(self, **changes: Any) -> str:
        """Change config fields and roll back to the first phase that reads one of them.

        The new config is validated first; a rejection raises `ConfigError` and
        changes nothing. Later phases are undone in reverse order, so that `resume()`
        re-runs only what the change affects. Returns the state rolled back to.
        """
        new_config = self._config.replace(**changes)
        violations = run_rules(None, GuardSubject(new_config, self.inputs.as_dict()))
        if violations:
            self._reject(violations)
        changed = set(self._config.diff(new_config))
        if self.state == FAILED:
            assert self._last_good_state is not None
            self._machine.set_state(self._last_good_state)
            self._clear_failure()
        completed = [p for p in PHASES if STATES.index(p.dest) <= STATES.index(self.state)]
        affected = [p for p in completed if set(self.phases[p.trigger].reads) & changed]
        if affected:
            for spec in reversed(completed[affected[0].index :]):
                self._roll_back(spec, reason="reconfigure")
                self._take_edge("rollback")
        self._config = new_config
        self.context.config = new_config
        self._setup = None
        self.bus.emit(
            Reconfigured,
            changes=redact({k: new_config.to_dict(redact_secrets=False)[k] for k in sorted(changed)}),
            state=self.state,
        )
        return self.state

    # ------------------------------------------------------------ internals

    def _start(self) -> None:
        violations = run_rules(None, GuardSubject(self._config, self.inputs.as_dict()))
        if violations:
            self._reject(violations)
        self._started_at = time.monotonic()
        self.bus.emit(
            InitStarted,
            config=self._config.to_dict(),
            phases=list(TRIGGERS),
            environment=self._environment(),
        )

    def _environment(self) -> dict[str, Any]:
        """The environment fingerprint recorded with InitStarted (see `events.environment`).

        Only the audit log needs it; without one, InitStarted carries an empty dict and the
        set-up skips the work (package versions, devices, git).
        """
        if self.audit is None:
            return {}
        from events.environment import fingerprint

        return fingerprint(rank=self.bus.rank, world_size=self.bus.world_size)

    def _reject(self, violations: list[Violation], *, phase: str | None = None) -> None:
        self.bus.emit(
            GuardRejected,
            phase=phase,
            violations=[v.to_dict() for v in violations],
            state=self.state,
        )
        message = format_violations(violations, trigger=phase, state=self.state if phase else None)
        raise ConfigError(message, violations)

    def _advance(self, spec: PhaseSpec) -> None:
        self._pending_violations = []
        try:
            moved = getattr(self._model, spec.trigger)()
        except PhaseError as err:
            self._fail(spec, err)
            raise
        self._advanced(spec, moved)

    def _advanced(self, spec: PhaseSpec, moved: bool) -> None:
        """After `spec`'s trigger: a guard rejection raises; reaching Ready ends the set-up."""
        if not moved:
            self._reject(self._pending_violations, phase=spec.trigger)
        if self.state == READY:
            self._ready()

    def _guards_pass(self, event_data: Any) -> bool:
        trigger = event_data.event.name
        subject = GuardSubject(self._config, self.inputs.as_dict(), self.context)
        self._pending_violations = run_rules(trigger, subject)
        return not self._pending_violations

    def _run_phase(self, event_data: Any) -> None:
        """The `before` callback of a phase's transition: its attempts, run here in turn.

        The decisions live in `_begin_phase`, `_begin_attempt` and `_end_attempt`, shared
        with `AsyncTrainerInit`, which only drives the same loop with awaits.
        """
        spec = self._begin_phase(event_data.event.name)
        phase = self.phases[spec.trigger]
        while True:
            attempt, started = self._begin_attempt(spec)
            fact: Any = None
            error: Exception | None = None
            try:
                fact = phase.run(self.context)
            except Exception as exc:
                error = exc
            except BaseException:  # interrupted: undo the phase, stay where we were
                self._roll_back(spec, reason="cancelled", attempt=attempt)
                raise
            delay = self._end_attempt(spec, attempt, started, fact, error)
            if delay is None:
                return
            self.sleep(delay)

    def _begin_phase(self, trigger: str) -> PhaseSpec:
        """Snapshot the context before the phase `trigger` first runs."""
        spec = phase_for(trigger)
        self._snapshots[spec.trigger] = self.context.snapshot()
        return spec

    def _begin_attempt(self, spec: PhaseSpec) -> tuple[int, float]:
        """Count and announce an attempt; returns its number and start time."""
        attempt = self._attempts.get(spec.trigger, 0) + 1
        self._attempts[spec.trigger] = attempt
        self.bus.emit(PhaseStarted, phase=spec.trigger, attempt=attempt, source=spec.source, dest=spec.dest)
        return attempt, time.monotonic()

    def _end_attempt(
        self, spec: PhaseSpec, attempt: int, started: float, fact: Any, error: Exception | None
    ) -> float | None:
        """Settle an attempt: None when the phase is done, else the delay before the next.

        A failed attempt is rolled back; a final failure raises `PhaseError`.
        """
        policy = self.retry_plan.for_trigger(spec.trigger)
        error = self._agree(spec, attempt, error)
        duration = time.monotonic() - started
        if error is None:
            self._duration = duration
            if isinstance(fact, FactEvent):
                self.bus.publish(fact, phase=spec.trigger, attempt=attempt)
            return None
        self._roll_back(spec, reason="failed", attempt=attempt)
        retry = policy.should_retry(error, attempt)
        self.bus.emit(
            PhaseFailed,
            phase=spec.trigger,
            attempt=attempt,
            error_type=type(error).__name__,
            error=scrub_text(str(error)),
            duration_s=duration,
            final=not retry,
        )
        if not retry:
            msg = f"phase {spec.trigger!r} failed on attempt {attempt}: {type(error).__name__}: {error}"
            raise PhaseError(scrub_text(msg), phase=spec.trigger, attempt=attempt, state=spec.source) from error
        delay = policy.delay(attempt)
        self.bus.emit(
            PhaseRetrying,
            phase=spec.trigger,
            attempt=attempt + 1,
            delay_s=delay,
            error_type=type(error).__name__,
            error=scrub_text(str(error)),
        )
        return delay

    def _agree(self, spec: PhaseSpec, attempt: int, error: Exception | None) -> Exception | None:
        """Agree on the phase's outcome with the other ranks; returns the error to act on.

        In a single process the local outcome stands. In a distributed run every rank
        must fail a phase that failed on any rank (see `fsm.distributed`).
        """
        return self._ranks.agree(
            spec.trigger,
            attempt,
            error,
            policy=self.retry_plan.for_trigger(spec.trigger),
            timeout=self._ranks.timeout_for(self._config),
        )

    def _phase_completed(self, event_data: Any) -> None:
        trigger = event_data.event.name
        self.bus.emit(
            PhaseCompleted,
            phase=trigger,
            attempt=self._attempts.get(trigger, 1),
            state=self.state,
            duration_s=self._duration,
        )

    def _roll_back(self, spec: PhaseSpec, *, reason: str, attempt: int | None = None) -> None:
        """Undo `spec`'s phase: its own rollback, then the context's products."""
        phase = self.phases[spec.trigger]
        rollback = getattr(phase, "rollback", None)
        try:
            if rollback is not None:
                rollback(self.context)
        finally:
            snapshot = self._snapshots.get(spec.trigger)
            if snapshot is not None:
                self.context.restore(snapshot)
            self.bus.emit(
                PhaseRolledBack,
                phase=spec.trigger,
                attempt=attempt if attempt is not None else self._attempts.get(spec.trigger, 0),
                reason=reason,
                state=spec.source,
            )

    def _fail(self, spec: PhaseSpec, err: PhaseError) -> None:
        self._failed_phase = spec.trigger
        self._error = err.__cause__ or err
        self._last_good_state = self.state
        self._take_edge("fail")
        self.bus.emit(
            InitFailed,
            phase=spec.trigger,
            attempt=err.attempt,
            failed_phase=spec.trigger,
            last_good_state=self._last_good_state,
            error_type=type(self._error).__name__,
            error=scrub_text(str(self._error)),
        )

    def _take_edge(self, trigger: str) -> None:
        """Take the table's callback-free edge `trigger` (``fail``, ``rollback``) from here.

        These edges run no callbacks, so both machines take them at once, without awaiting.
        """
        edges = self._machine.get_transitions(trigger, source=self.state)
        if not edges:
            msg = f"the machine has no {trigger!r} edge from {self.state}"
            raise StateError(msg)
        self._machine.set_state(edges[0].dest, model=self._model)

    def _clear_failure(self) -> None:
        if self.state == FAILED and self._last_good_state is not None:
            self._machine.set_state(self._last_good_state)
        self._failed_phase = None
        self._error = None
        self._last_good_state = None

    def _ready(self) -> None:
        ctx = self.context
        if ctx.callback_handler is not None:  # the one init-time hook transformers has
            ctx.control = ctx.callback_handler.call("on_init_end", ctx.config, ctx.state, ctx.control)
        audit_path = self.audit.path if self.audit is not None else None
        self._setup = TrainerSetup.from_context(ctx, audit_path=str(audit_path) if audit_path else None)
        started = self._started_at if self._started_at is not None else time.monotonic()
        self.bus.emit(InitReady, duration_s=time.monotonic() - started)
        if self.audit is not None and self.audit.path is not None:  # written (and fsynced) at InitReady
            self._setup.audit_path = str(self.audit.path)

    def __repr__(self) -> str:
        return f"<TrainerInit state={self.state!r} run_id={self.bus.run_id!r}>"
