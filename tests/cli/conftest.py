"""Helpers for the command-line tests: run `trainer-fsm` in this process or as a real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _keep_sys_path(monkeypatch):
    """Config files append their folder to sys.path; undo that after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def cli(capsys):
    """Run `trainer-fsm ARGS` in this process; returns (exit code, stdout, stderr)."""
    from fsm.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def command(tmp_path):
    """Run `python -m fsm ARGS` as a separate process in the test's directory."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
        return subprocess.run(
            [sys.executable, "-m", "fsm", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def write(tmp_path):
    """Write a file under the test's directory; returns its path."""

    def put(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return put


def listing(root: Path) -> set[str]:
    """Every path under `root`, relative to it (to show that nothing was created)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture
def files(tmp_path):
    """A function listing every path under the test's directory."""
    return lambda: listing(tmp_path)
