"""Guards: named rules that reject an invalid set-up before anything changes.

A rule is a function registered with `@rule(...)`. It gets a `GuardSubject` (the
config, the inputs given to `TrainerInit`, and, for rules that run on a transition,
the set-up context so far) and yields ``(message, hint)`` pairs, or
``(message, hint, fields)`` to name other fields than the rule's own. Every rule runs;
all violations are reported together.

Static rules (``trigger=None``) run in `validate()` and at the start of
`TrainerInit.run()`. Rules with a `trigger` need what an earlier phase decided; they
run as a `transitions` condition on that trigger's transition.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fsm.config import InitConfig
from fsm.exceptions import ConfigError

__all__ = [
    "RULES",
    "GuardSubject",
    "Rule",
    "Violation",
    "format_violations",
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
        return f"[{self.rule}] {self.message}\n    fix: {self.hint}"


@dataclass(frozen=True)
class GuardSubject:
    """What a rule looks at: the config, the inputs, and the context (transition rules)."""

    config: InitConfig
    inputs: Mapping[str, Any] = field(default_factory=dict)
    context: Any = None

    def input(self, name: str) -> Any:
        """The input `name` given to TrainerInit (None when not given)."""
        return self.inputs.get(name)


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
        """Run the check; an exception inside a check is itself reported as a violation."""
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
    """Register a rule; the decorated function's docstring is its description."""

    def register(check: Check) -> Check:
        if rule_id in RULES and RULES[rule_id].check is not check:
            msg = f"a rule with id {rule_id!r} is already registered"
            raise ValueError(msg)
        doc = description or (check.__doc__ or "").strip().splitlines()[0] if (description or check.__doc__) else ""
        RULES[rule_id] = Rule(rule_id, tuple(fields), doc, check, trigger)
        return check

    return register


_loaded = False


def _load_rules() -> None:
    """Import every module of `fsm.rules` once, which registers the catalogue."""
    global _loaded
    if _loaded:
        return
    import fsm.rules as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    _loaded = True


def rules_for(trigger: str | None) -> Iterator[Rule]:
    """The rules that run on `trigger` (None: the static rules)."""
    _load_rules()
    return (r for r in RULES.values() if r.trigger == trigger)


def run_rules(trigger: str | None, subject: GuardSubject) -> list[Violation]:
    """Every violation of the rules of `trigger` on `subject`."""
    found: list[Violation] = []
    for r in rules_for(trigger):
        found.extend(r.violations(subject))
    return found


def validate(config: InitConfig | Mapping[str, Any] | None = None, **inputs: Any) -> list[Violation]:
    """Run every static rule on `config` and the `TrainerInit` inputs; return all violations.

    Nothing is changed and nothing heavy is imported. An empty list means the set-up
    may start (rules that need an earlier phase's result run later, on their transition).
    """
    if config is None:
        config = InitConfig()
    elif isinstance(config, Mapping):
        config = InitConfig.from_dict(config)
    return run_rules(None, GuardSubject(config, inputs))


def format_violations(violations: list[Violation]) -> str:
    """A readable multi-line message listing every violation."""
    n = len(violations)
    head = f"the set-up was rejected: {n} problem{'s' if n != 1 else ''} found, nothing was changed"
    return head + "\n" + "\n".join(f"  {i}. {v}" for i, v in enumerate(violations, 1))


def raise_for(violations: list[Violation]) -> None:
    """Raise `ConfigError` listing `violations`, if there are any."""
    if violations:
        raise ConfigError(format_violations(violations), violations)
