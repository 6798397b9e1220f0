"""Phase 9, `prepare_output`: the output directory, and the hub repository if asked.

The directory is created on the main process only, with ``exist_ok``; the other ranks
wait until the main process is done and then see its result (the hub repo id), or its
error: a failure on the main process is sent to them (they raise `RemotePhaseError`)
rather than leaving them at a barrier until the process group's timeout. An existing
directory is used as it is and never emptied. With `push_to_hub`, the hub repository
is created through `huggingface_hub` on the main process (``HF_ENDPOINT`` selects the
server). Rollback removes only the directories this phase created, and only while they
are empty; it never deletes a remote repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from events.types import OutputPrepared
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["PrepareOutputPhase", "create_hub_repo", "hub_repo_id"]


def hub_repo_id(config: Any) -> str:
    """`hub_model_id`, or the output directory's name, as transformers derives it."""
    return config.hub_model_id or Path(config.resolved_output_dir).absolute().name


def create_hub_repo(config: Any) -> str:
    """Create (or find) the hub repository for `config`; returns its repo id."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=config.hub_token)
    url = api.create_repo(hub_repo_id(config), private=config.hub_private_repo, exist_ok=True)
    return str(url.repo_id)


def _missing_parents(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    from events.redact import scrub_text

    return scrub_text(f"{type(error).__name__}: {error}")


def _share_from_main(accelerator: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The main process's `payload`, on every rank; the others wait here until it is sent.

    A single process gets its own payload back without any communication.
    """
    if accelerator.num_processes <= 1:
        return payload
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return payload
    box = [payload if accelerator.is_main_process else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class PrepareOutputPhase(Phase):
    """Create the output directory (main process) and the hub repository (when asked)."""

    trigger = "prepare_output"
    reads = frozenset({"output_dir", "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo"})

    def run(self, ctx: SetupContext) -> OutputPrepared:
        config, accelerator = ctx.config, ctx.accelerator
        output_dir = Path(config.resolved_output_dir)
        is_main = accelerator.is_main_process
        created: list[Path] = []
        repo_id = None
        error: Exception | None = None
        if is_main:  # main-process-only work; the other ranks wait in _share_from_main
            try:
                created, repo_id = self.prepare_on_main(ctx, output_dir)
            except Exception as exc:
                error = exc
        # Like accelerate's main_process_first, but a failure on the main process still
        # reaches the others (who raise too) instead of leaving them at the barrier.
        shared = _share_from_main(accelerator, {"repo_id": repo_id, "error": _describe(error)})
        if error is not None:
            raise error
        if shared["error"] is not None:
            from fsm.exceptions import RemotePhaseError

            msg = f"phase {self.trigger!r} failed on the main process (rank 0): {shared['error']}"
            raise RemotePhaseError(msg, phase=self.trigger, attempt=0, rank=0, failures={0: shared["error"]})
        repo_id = shared["repo_id"]
        ctx.output_dir = str(output_dir)
        ctx.output_dir_created = bool(created)
        ctx.hub_repo_id = repo_id
        return OutputPrepared(
            output_dir=str(output_dir),
            created=bool(created),
            created_dirs=[str(p) for p in created],
            main_process=is_main,
            hub_repo=repo_id,
        )

    def prepare_on_main(self, ctx: SetupContext, output_dir: Path) -> tuple[list[Path], str | None]:
        """Create the output directory and the hub repository; runs on the main process only.

        Returns the directories created (deepest first) and the hub repo id (or None).
        """
        config = ctx.config
        if output_dir.exists() and not output_dir.is_dir():
            msg = f"output_dir={str(output_dir)!r} exists and is not a directory; choose another output_dir"
            raise NotADirectoryError(msg)
        created = _missing_parents(output_dir.absolute())
        ctx.undo[self.trigger] = created
        output_dir.mkdir(parents=True, exist_ok=True)
        repo_id = create_hub_repo(config) if config.push_to_hub else None
        return created, repo_id

    def rollback(self, ctx: SetupContext) -> None:
        for path in ctx.undo.get(self.trigger) or ():
            try:
                path.rmdir()  # only empty directories: never a user's files
            except OSError:
                break
