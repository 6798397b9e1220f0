"""Phase 8, `register_callbacks`: default flow, reporting integrations, progress, user's.

Order, as in transformers: `DefaultFlowCallback`, the reporting integrations named in
`report_to`, the user's callbacks, then `ProgressCallback` (or `PrinterCallback` when
`disable_tqdm` is set). A second callback of one class is warned about and recorded in
`CallbacksRegistered.duplicates`.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING, Any

from events.types import CallbacksRegistered
from handlers.base import Phase
from handlers.callbacks import (
    CallbackHandler,
    DefaultFlowCallback,
    PrinterCallback,
    ProgressCallback,
    TensorBoardCallback,
)

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["REPORTING_INTEGRATIONS", "RegisterCallbacksPhase", "reporting_callbacks"]

REPORTING_INTEGRATIONS: dict[str, type[Any]] = {"tensorboard": TensorBoardCallback}
"""The `report_to` names the core supports, with their callback classes.

transformers' other integrations (wandb, mlflow, ...) come with the transformers bridge
(`fsm.integrations.transformers`), which uses transformers' own callbacks.
"""


def _installed(callback_class: type[Any]) -> bool:
    requires = getattr(callback_class, "requires", None)
    return requires is None or importlib.util.find_spec(requires) is not None


def reporting_callbacks(report_to: list[str]) -> list[type[Any]]:
    """The callback classes for the `report_to` names (``"all"``: every installed one)."""
    if "all" in report_to:
        return [cls for cls in REPORTING_INTEGRATIONS.values() if _installed(cls)]
    classes = []
    for name in report_to:
        cls = REPORTING_INTEGRATIONS.get(name)
        if cls is None:
            msg = (
                f"report_to={name!r} is not an integration trainer-fsm knows; "
                f"use one of {sorted(REPORTING_INTEGRATIONS)}, 'all' or 'none'"
            )
            raise ValueError(msg)
        if not _installed(cls):
            msg = f"report_to={name!r} needs the {cls.requires!r} package: pip install {cls.requires}"
            raise ImportError(msg)
        classes.append(cls)
    return classes


class RegisterCallbacksPhase(Phase):
    """Build the callback handler with the default, reporting and user callbacks."""

    trigger = "register_callbacks"
    reads = frozenset({"report_to", "disable_tqdm"})

    def run(self, ctx: SetupContext) -> CallbacksRegistered:
        config = ctx.config
        callbacks: list[Any] = [DefaultFlowCallback, *reporting_callbacks(config.report_to_list)]
        callbacks.extend(ctx.inputs.callbacks or ())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            handler = CallbackHandler(callbacks, ctx.model, ctx.processing_class, ctx.optimizer, ctx.lr_scheduler)
            handler.add_callback(PrinterCallback if config.disable_tqdm else ProgressCallback)
        for warning in caught:  # re-issue to the user's filters, outside the recorder
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        ctx.callback_handler = handler
        seen: set[type[Any]] = set()
        duplicates: list[str] = []
        for cb in handler.callbacks:
            if type(cb) in seen and type(cb).__name__ not in duplicates:
                duplicates.append(type(cb).__name__)
            seen.add(type(cb))
        return CallbacksRegistered(
            callbacks=[type(cb).__name__ for cb in handler.callbacks],
            duplicates=duplicates,
        )
