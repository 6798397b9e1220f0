"""Rules on the output: the output directory, and the hub repository when pushing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fsm.guards import GuardSubject, rule

__all__: list[str] = []


def _repo_id_problem(repo_id: str) -> str | None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return str(exc)
    return None


@rule("output.not_a_directory", fields=("output_dir",))
def not_a_directory(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """output_dir, and every part of its path that exists, is a directory (not a regular file)."""
    path = s.config.resolved_output_dir
    candidate = os.path.abspath(path)
    while not os.path.lexists(candidate):
        parent = os.path.dirname(candidate)
        if parent == candidate:
            return
        candidate = parent
    if not os.path.isdir(candidate):
        where = "output_dir" if candidate == os.path.abspath(path) else f"the part {candidate!r} of output_dir"
        yield (
            f"{where} ({path!r}) exists and is a file, not a directory",
            "choose another output_dir; the file is left as it is",
        )


@rule("output.hub_model_id_underivable", fields=("push_to_hub", "hub_model_id", "output_dir"))
def hub_model_id_underivable(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """push_to_hub without hub_model_id has an output_dir whose name is a valid repository name."""
    c = s.config
    if not c.push_to_hub or c.hub_model_id is not None:
        return
    name = Path(c.resolved_output_dir).absolute().name
    problem = _repo_id_problem(name) if name else "the path has no name"
    if problem:
        yield (
            f"push_to_hub=True without hub_model_id: the repository name would come from output_dir, "
            f"but {name!r} is not a valid one ({problem})",
            "set hub_model_id='your-name/your-model'",
        )


@rule("output.hub_model_id_invalid", fields=("push_to_hub", "hub_model_id"))
def hub_model_id_invalid(s: GuardSubject) -> Iterator[tuple[str, str]]:
    """hub_model_id, when pushing, is a valid repository id ('name' or 'namespace/name')."""
    c = s.config
    if c.push_to_hub and c.hub_model_id is not None:
        problem = _repo_id_problem(c.hub_model_id)
        if problem:
            yield (
                f"hub_model_id={c.hub_model_id!r} is not a valid repository id ({problem})",
                "use 'name' or 'namespace/name' with letters, digits, '-', '_' and '.'",
            )
