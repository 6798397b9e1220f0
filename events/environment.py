"""The environment fingerprint: on what machine, with which versions, by whom.

`fingerprint()` returns a JSON-able dict that `InitStarted` carries and the audit log
keeps in its first record of a run. It is cheap: package versions come from
`importlib.metadata` (nothing is imported to learn a version), torch is asked about
devices only when the program has imported it already, and the parts that cannot change
while a process runs (versions, platform, host, user) are computed once per process;
so is the git commit of each working directory (asking git takes several milliseconds;
`git_commit()` asks afresh).

Environment variables are never copied wholesale: only the launcher's variables that
explain a run (ranks, world size, master address, torchelastic, SLURM, accelerate's
``ACCELERATE_*``), and those go through `events.redact.redact`.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

from events.redact import redact

__all__ = ["LAUNCHER_VARIABLES", "PACKAGES", "VOLATILE_FIELDS", "fingerprint", "git_commit"]

PACKAGES = (
    "trainer-fsm",
    "torch",
    "accelerate",
    "transitions",
    "numpy",
    "structlog",
    "huggingface_hub",
    "transformers",
)
"""Distributions whose versions the fingerprint records (None when not installed)."""

LAUNCHER_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "ROLE_RANK",
    "NODE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "TORCHELASTIC_RESTART_COUNT",
    "TORCHELASTIC_MAX_RESTARTS",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "SLURM_JOB_ID",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NTASKS",
    "SLURM_NODEID",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
)
"""Environment variables recorded as they are (after redaction), when set."""

_LAUNCHER_PREFIXES = ("ACCELERATE_", "FSDP_")

VOLATILE_FIELDS = ("pid",)
"""Fingerprint fields that differ between any two runs; `audit diff` hides them by default."""

_GIT_TIMEOUT_S = 2.0


def fingerprint(*, rank: int | None = None, world_size: int | None = None) -> dict[str, Any]:
    """The environment of this process, as a JSON-able dict (see the module docstring).

    Args:
        rank: the process's global rank, when the caller knows it (else from ``RANK``).
        world_size: the number of processes (else from ``WORLD_SIZE``, or 1).
    """
    static = _static()
    out: dict[str, Any] = {
        "python": dict(static["python"]),
        "packages": dict(static["packages"]),
        "platform": dict(static["platform"]),
        "host": static["host"],
        "user": static["user"],
        "pid": os.getpid(),
        "cwd": _cwd(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": _cpus_usable(),
        "rank": rank if rank is not None else _int_env("RANK", 0),
        "world_size": world_size if world_size is not None else _int_env("WORLD_SIZE", 1),
        "devices": _devices(),
        "launcher": _launcher_env(),
        "git": _git_commit_cached(_cwd()),
    }
    return out


@functools.lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    """What cannot change while the process runs; computed once."""
    uname = platform.uname()
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": {name: _version(name) for name in PACKAGES},
        "platform": {
            "system": uname.system,
            "release": uname.release,
            "machine": uname.machine,
            "libc": "-".join(platform.libc_ver()).strip("-") or None,
        },
        "host": _hostname(),
        "user": _user(),
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
    except Exception:  # a broken installation's metadata: record that we could not tell
        return None


def _hostname() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def _user() -> str | None:
    """Who ran it: `getpass.getuser()`, or None when the environment cannot tell."""
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (some containers)
        return None


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # the working directory was removed
        return None


def _cpus_usable() -> int | None:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return os.cpu_count()
    try:
        return len(getter(0))
    except OSError:
        return None


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _launcher_env() -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if k in LAUNCHER_VARIABLES or k.startswith(_LAUNCHER_PREFIXES)}
    return redact(dict(sorted(found.items())))


def _devices() -> dict[str, Any]:
    """CUDA / MPS devices torch sees, without importing torch or initialising CUDA."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"torch_imported": False}
    out: dict[str, Any] = {"torch_imported": True}
    try:
        cuda = torch.cuda
        out["cuda_available"] = bool(cuda.is_available())
        out["cuda_version"] = getattr(torch.version, "cuda", None)
        out["cuda_device_count"] = int(cuda.device_count()) if out["cuda_available"] else 0
        if out["cuda_available"] and cuda.is_initialized():  # names need CUDA; never initialise it here
            out["cuda_devices"] = [str(cuda.get_device_name(i)) for i in range(out["cuda_device_count"])]
        mps = getattr(torch.backends, "mps", None)
        out["mps_available"] = bool(mps is not None and mps.is_available())
    except Exception as exc:  # a broken driver must not stop a set-up from being recorded
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def git_commit(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The git commit checked out in `path` (default: the working directory), or None.

    Returns ``{"commit": sha, "dirty": bool}``; ``dirty`` says whether tracked files
    differ from the commit. None when git is missing, `path` is not inside a repository,
    or git does not answer within two seconds.
    """
    cwd = os.fspath(path) if path is not None else _cwd()
    if cwd is None:
        return None
    return _git_commit(cwd)


@functools.lru_cache(maxsize=64)
def _git_commit_cached(cwd: str | None) -> dict[str, Any] | None:
    """`git_commit` of `cwd` as first seen by this process.

    Asking git costs two processes (and a walk of the work tree for ``dirty``), several
    milliseconds: a process that sets up many runs pays it once per directory. The
    fingerprint therefore says what the checkout was at the first set-up of the process.
    """
    return _git_commit(cwd) if cwd is not None else None


def _git_commit(cwd: str) -> dict[str, Any] | None:
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _git(cwd: str, *args: str) -> str | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # git absent, cwd gone, timed out
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
