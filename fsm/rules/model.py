"""Rules on the model inputs: exactly one of `model` and `model_init`, and its arity."""

from __future__ import annotations

from collections.abc import Iterator

from fsm.guards import GuardSubject, rule


@rule("model.exactly_one", fields=("model", "model_init"))
def exactly_one(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """Exactly one of `model` and `model_init` is given."""
    model, model_init = s.input("model"), s.input("model_init")
    if model is None and model_init is None:
        yield (
            "neither `model` nor `model_init` was given",
            "pass model=<your nn.Module> or model_init=<a function returning one>",
        )
    elif model is not None and model_init is not None:
        yield (
            "both `model` and `model_init` were given",
            "pass only one: model for a built model, model_init to build it after seeding",
        )


@rule("model.init_arity", fields=("model_init",))
def init_arity(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """`model_init` is callable with 0 or 1 argument (the trial)."""
    model_init = s.input("model_init")
    if model_init is None:
        return
    if not callable(model_init):
        yield f"model_init is a {type(model_init).__name__}, not a callable", "pass a function that returns the model"
        return
    from handlers.model import model_init_arity

    if model_init_arity(model_init) is None:
        yield (
            "model_init cannot be called with 0 or 1 argument",
            "make model_init take no argument, or one (the hyper-parameter trial)",
        )
