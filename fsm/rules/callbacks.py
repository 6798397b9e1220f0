"""Rules on callbacks and reporting: `report_to` names and the `callbacks` input.

The core reports to the integrations in `handlers.register.REPORTING_INTEGRATIONS`
(plus ``"all"`` and ``"none"``); transformers' other integrations (wandb, mlflow, ...)
come with the transformers bridge (``fsm.integrations.transformers.Trainer``), whose
config says so (``reports_through_transformers``): there every name transformers knows
is accepted.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
from collections.abc import Iterator
from typing import Any

from fsm.guards import GuardSubject, rule

__all__ = ["TRANSFORMERS_INTEGRATIONS"]

TRANSFORMERS_INTEGRATIONS = (
    "azure_ml",
    "clearml",
    "codecarbon",
    "comet_ml",
    "dagshub",
    "dvclive",
    "flyte",
    "mlflow",
    "neptune",
    "swanlab",
    "tensorboard",
    "trackio",
    "wandb",
)
"""The `report_to` names transformers (5.x) knows."""


def _names(s: GuardSubject) -> list[str]:
    value = s.config.report_to
    return [value] if isinstance(value, str) else list(value or ())


def _event_methods(obj: Any) -> bool:
    from handlers.callbacks import CALLBACK_EVENTS

    return any(callable(getattr(obj, event, None)) for event in CALLBACK_EVENTS)


@rule("callbacks.report_to_unknown", fields=("report_to",))
def report_to_unknown(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Every report_to name is an integration the core supports, "all" or "none"."""
    names = [n for n in _names(s) if n not in ("all", "none")]
    if not names or getattr(s.config, "reports_through_transformers", False):
        return  # the transformers bridge registers transformers' own integrations
    from handlers.register import REPORTING_INTEGRATIONS

    known = sorted(REPORTING_INTEGRATIONS)
    # the drop-in transformers Trainer's config: transformers' own callbacks serve report_to
    through_transformers = getattr(s.config, "reports_through_transformers", False)
    for name in names:
        if name in REPORTING_INTEGRATIONS or (through_transformers and name in TRANSFORMERS_INTEGRATIONS):
            continue
        valid = ", ".join(repr(n) for n in [*known, "all", "none"])
        if name in TRANSFORMERS_INTEGRATIONS:
            hint = (
                f"{name!r} is a transformers integration: use the drop-in fsm.integrations.transformers.Trainer "
                "(pip install 'trainer-fsm[transformers]'), which reports through transformers' callbacks"
            )
        else:
            close = difflib.get_close_matches(name, [*known, *TRANSFORMERS_INTEGRATIONS], n=1)
            hint = f"did you mean {close[0]!r}?" if close else "use one of the names listed"
        yield f"report_to={name!r} is not an integration trainer-fsm supports; it supports {valid}", hint


@rule("callbacks.report_to_not_installed", fields=("report_to",))
def report_to_not_installed(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Every report_to integration named has its package installed."""
    names = [n for n in _names(s) if n not in ("all", "none")]
    if not names or getattr(s.config, "reports_through_transformers", False):
        return  # transformers checks its own integrations' packages
    from handlers.register import REPORTING_INTEGRATIONS

    for name in names:
        requires = getattr(REPORTING_INTEGRATIONS.get(name), "requires", None)
        if requires and importlib.util.find_spec(requires) is None:
            yield (
                f"report_to={name!r} needs the {requires!r} package, which is not installed",
                f"pip install {requires}, or drop {name!r} from report_to",
            )


@rule("callbacks.report_to_none_mixed", fields=("report_to",))
def report_to_none_mixed(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """ "none" is not listed with other report_to names."""
    names = _names(s)
    if "none" in names and len(set(names)) > 1:
        yield (
            f"report_to={names!r} lists 'none' with other integrations",
            "use report_to='none' to report nowhere, or list only the integrations to report to",
        )


@rule("callbacks.not_a_callback", fields=("callbacks",))
def not_a_callback(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Every callback is a callback class or an instance of one (it has on_* event methods)."""
    callbacks = s.input("callbacks")
    if callbacks is None:
        return
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        yield (
            f"callbacks must be a list of callbacks, got {type(callbacks).__name__}",
            "pass callbacks=[MyCallback] or callbacks=[MyCallback()]",
        )
        return
    for i, cb in enumerate(callbacks):
        if _event_methods(cb):
            continue
        what = f"the class {cb.__name__}" if isinstance(cb, type) else f"a {type(cb).__name__}"
        hint = "subclass fsm.TrainerCallback and override the events you need (on_init_end, on_log, ...)"
        if isinstance(cb, str):
            hint = f"integrations are named in report_to (report_to=[{cb!r}]); callbacks takes callback objects"
        yield f"callbacks[{i}] is {what}, which is neither a callback class nor a callback instance", hint


@rule("callbacks.class_needs_arguments", fields=("callbacks",))
def class_needs_arguments(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """A callback given as a class can be built without arguments."""
    callbacks = s.input("callbacks")
    if callbacks is None or isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        return
    for i, cb in enumerate(callbacks):
        if not (isinstance(cb, type) and _event_methods(cb)):
            continue
        try:
            inspect.signature(cb).bind()
        except TypeError:
            yield (
                f"callbacks[{i}] is the class {cb.__name__}, whose constructor needs arguments",
                f"pass an instance instead: callbacks=[{cb.__name__}(...)]",
            )
        except ValueError:
            continue
