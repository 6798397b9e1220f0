"""Guards: named rules that reject an invalid set-up before anything changes.

A rule is a function registered with `@rule(...)`. It gets a `GuardSubject` (the
config, the inputs given to `TrainerInit`, the hardware it will run on and, for rules
that run on a transition, the set-up context so far) and yields ``(message, hint)``
pairs, or ``(message, hint, fields)`` to name other fields than the rule's own. Every
rule runs; all violations are reported together.

Static rules (``trigger=None``) run in `validate()` and at the start of
`TrainerInit.run()`. Rules with a `trigger` need what an earlier phase decided; they
run as a `transitions` condition on that trigger's transition.

A field whose value has the wrong type is reported once, by ``types.field_type``; the
other rules that read that field are skipped, so a string where a number belongs gives
one clear violation instead of a cascade of confusing ones.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fsm.config import InitConfig
from fsm.exceptions import ConfigError
from fsm.phases import TRIGGERS

__all__ = [
    "RULES",
    "GuardSubject",
    "Hardware",
    "Rule",
    "Violation",
    "catalogue_markdown",
    "format_violations",
    "raise_for",
    "rule",
    "rules_for",
    "run_rules",
    "validate",
]


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, on which fields, what is wrong, and what to do instead."""

    rule: str
    fields: tuple[str, ...]
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for events and the audit log)."""
        return {"rule": self.rule, "fields": list(self.fields), "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}\n     fix: {self.hint}"


@dataclass(frozen=True)
class Hardware:
    """What the machine the set-up runs on supports, as accelerate will see it.

    `device_type` is the device the `accelerate` phase will pick (``"cpu"``, ``"cuda"``,
    ...); `fp16`, `bf16` and `tf32` say whether that device takes the mode without
    accelerate (or transformers, for tf32) refusing it. `Hardware.detect()` reads this
    machine; pass a `Hardware` of your own to `validate(..., hardware=...)` to check a
    config for another machine (a GPU cluster, from a laptop).
    """

    device_type: str
    fp16: bool
    bf16: bool
    tf32: bool

    @classmethod
    def detect(cls, *, use_cpu: bool = False) -> Hardware:
        """This machine, for a set-up with `use_cpu` (imports torch and accelerate)."""
        cpu = bool(use_cpu) or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes", "y", "on")
        return _detect_hardware(cpu, os.environ.get("ACCELERATE_TORCH_DEVICE"))


@functools.lru_cache(maxsize=8)
def _detect_hardware(cpu: bool, env_device: str | None) -> Hardware:
    # Mirrors accelerate (1.x): PartialState picks the device, Accelerator.__init__
    # refuses fp16 where autocast cannot run it and bf16 where the device lacks it;
    # on CPU, fp16 is accepted (accelerate then computes in fp32).
    import torch
    from accelerate.utils import get_torch_accelerator_backend, is_bf16_available

    if env_device is not None:
        device_type = torch.device(env_device).type
    elif cpu:
        device_type = "cpu"
    else:
        device_type = get_torch_accelerator_backend()[0] or "cpu"
    if device_type == "cpu":
        fp16 = True
    else:
        fp16 = torch.amp.is_autocast_available(device_type) and device_type != "tpu"
        module = getattr(torch, device_type, None)
        if fp16 and hasattr(module, "get_amp_supported_dtype"):
            fp16 = torch.float16 in module.get_amp_supported_dtype()
    bf16 = device_type in ("cpu", "xpu", "hpu") or bool(is_bf16_available(True))
    tf32 = (
        device_type == "cuda"
        and torch.cuda.is_available()
        and torch.version.hip is None
        and torch.cuda.get_device_capability()[0] >= 8
    )
    return Hardware(device_type=device_type, fp16=bool(fp16), bf16=bf16, tf32=bool(tf32))


@dataclass(frozen=True)
class GuardSubject:
    """What a rule looks at: the config, the inputs, the hardware, and the context."""

    config: InitConfig
    inputs: Mapping[str, Any] = field(default_factory=dict)
    context: Any = None
    hardware: Hardware | None = None

    def input(self, name: str) -> Any:
        """The input `name` given to TrainerInit (None when not given)."""
        return self.inputs.get(name)

    def target(self) -> Hardware:
        """The hardware the set-up runs on: the one given, or this machine's (detected once)."""
        if self.hardware is not None:
            return self.hardware
        return Hardware.detect(use_cpu=self.config.use_cpu is True)

    @functools.cached_property
    def mistyped(self) -> frozenset[str]:
        """Names of the config fields whose values have the wrong type."""
        from fsm.rules.field_types import mistyped_fields

        return frozenset(mistyped_fields(self.config))


Check = Callable[[GuardSubject], Iterable[tuple[Any, ...]]]


@dataclass(frozen=True)
class Rule:
    """A named check. `trigger` is None for static rules."""

    id: str
    fields: tuple[str, ...]
    description: str
    check: Check
    trigger: str | None = None

    def violations(self, subject: GuardSubject) -> list[Violation]:
        """Run the check; skipped when a field it reads has the wrong type (reported by the type rule).

        An exception inside a check is itself reported as a violation, never raised.
        """
        if not self.id.startswith("types.") and subject.mistyped and subject.mistyped.intersection(self.fields):
            return []
        found = []
        try:
            for item in self.check(subject) or ():
                message, hint, *rest = item
                fields = tuple(rest[0]) if rest else self.fields
                found.append(Violation(self.id, fields, str(message), str(hint)))
        except Exception as exc:
            found.append(
                Violation(
                    self.id,
                    self.fields,
                    f"could not check {', '.join(self.fields) or 'the inputs'}: {type(exc).__name__}: {exc}",
                    "fix the value's type (see the other violations), then validate again",
                )
            )
        return found


RULES: dict[str, Rule] = {}
"""Every registered rule by id, in registration order."""


def rule(
    rule_id: str,
    *,
    fields: Iterable[str] = (),
    trigger: str | None = None,
    description: str | None = None,
) -> Callable[[Check], Check]:
    """Register a rule; the first line of the decorated function's docstring is its description.

    `fields` are the config fields and inputs the rule reads: a rule is skipped when one
    of them has the wrong type, and a violation names them unless it names its own.
    """

    if trigger is not None and trigger not in TRIGGERS:
        msg = f"rule {rule_id!r}: trigger={trigger!r} is not a phase trigger; use one of {', '.join(TRIGGERS)}"
        raise ValueError(msg)

    def register(check: Check) -> Check:
        known = RULES.get(rule_id)
        if known is not None and (known.check.__module__, known.check.__qualname__) != (
            check.__module__,
            check.__qualname__,
        ):  # the same function registered again (a module reloaded) replaces itself
            msg = f"a rule with id {rule_id!r} is already registered"
            raise ValueError(msg)
        doc = description or (check.__doc__ or "").strip().splitlines()[0] if (description or check.__doc__) else ""
        RULES[rule_id] = Rule(rule_id, tuple(fields), doc, check, trigger)
        return check

    return register


_loaded = False


def _load_rules() -> None:
    """Import every public module of `fsm.rules` once, which registers the catalogue."""
    global _loaded
    if _loaded:
        return
    import fsm.rules as package

    names = [info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")]
    first = getattr(package, "FIRST", ())
    for name in sorted(names, key=lambda n: (n not in first, n)):
        importlib.import_module(f"{package.__name__}.{name}")
    _loaded = True


@functools.lru_cache(maxsize=32)
def _rules_tuple(trigger: str | None, count: int) -> tuple[Rule, ...]:
    return tuple(r for r in RULES.values() if r.trigger == trigger)


def rules_for(trigger: str | None) -> Iterator[Rule]:
    """The rules that run on `trigger` (None: the static rules)."""
    _load_rules()
    return iter(_rules_tuple(trigger, len(RULES)))


def run_rules(trigger: str | None, subject: GuardSubject) -> list[Violation]:
    """Every violation of the rules of `trigger` on `subject`."""
    found: list[Violation] = []
    for r in rules_for(trigger):
        found.extend(r.violations(subject))
    return found


def validate(
    config: InitConfig | Mapping[str, Any] | None = None,
    *,
    hardware: Hardware | None = None,
    **inputs: Any,
) -> list[Violation]:
    """Run every static rule on `config` and the `TrainerInit` inputs; return all violations.

    Nothing is changed. torch and accelerate are imported only to check precision
    settings against the hardware (``fp16``/``bf16``/``tf32``), or pass `hardware` to
    check a config for another machine. An empty list means the set-up may start (rules
    that need an earlier phase's result run later, on their transition).

    Raises:
        ConfigError: `config` is a mapping with keys `InitConfig` does not have.
    """
    if config is None:
        config = InitConfig()
    elif isinstance(config, Mapping):
        config = InitConfig.from_dict(config)
    return run_rules(None, GuardSubject(config, inputs, hardware=hardware))


def format_violations(violations: list[Violation], *, trigger: str | None = None, state: str | None = None) -> str:
    """A readable multi-line message listing every violation.

    With `trigger`, the message says which transition was refused and the state the
    machine stays in.
    """
    n = len(violations)
    problems = f"{n} problem{'s' if n != 1 else ''}"
    if trigger is None:
        head = f"the set-up was rejected before anything changed: {problems}"
    else:
        where = f"; the machine stays in {state}" if state else ""
        head = f"the {trigger!r} transition was rejected: {problems}{where}"
    return head + "\n" + "\n".join(f"  {i}. {v}" for i, v in enumerate(violations, 1))


def raise_for(violations: list[Violation]) -> None:
    """Raise `ConfigError` listing `violations`, if there are any."""
    if violations:
        raise ConfigError(format_violations(violations), violations)


def catalogue_markdown() -> str:
    """The rule catalogue as a markdown table: id, phase it runs on, fields, what it checks."""
    _load_rules()
    lines = [
        "| rule | runs | fields | what it checks |",
        "|---|---|---|---|",
    ]
    every_field = set(InitConfig.field_names())
    for r in sorted(RULES.values(), key=lambda r: r.id):
        runs = "before any phase" if r.trigger is None else f"on `{r.trigger}`"
        named = ", ".join(f"`{f}`" for f in r.fields) or "-"
        fields = "every config field" if every_field <= set(r.fields) else named
        description = r.description.replace("|", "\\|")
        lines.append(f"| `{r.id}` | {runs} | {fields} | {description} |")
    return "\n".join(lines) + "\n"
