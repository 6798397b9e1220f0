"""The environment fingerprint: versions, machine, launcher variables, git commit, user."""

from __future__ import annotations

import getpass
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from events.environment import fingerprint, git_commit


def test_versions_and_machine_are_recorded():
    """Python, torch, accelerate, transitions and trainer-fsm versions; host, user, CPUs."""
    env = fingerprint()
    assert env["python"]["version"] == platform.python_version()
    for name in ("torch", "accelerate", "transitions", "trainer-fsm"):
        assert env["packages"][name] == metadata.version(name)
    assert env["host"] == socket.gethostname()
    assert env["user"] == getpass.getuser()
    assert env["cpu_count"] == os.cpu_count() and env["pid"] == os.getpid()
    assert env["platform"]["system"] == platform.system()
    json.dumps(env)  # plain JSON data


def test_launcher_variables_are_recorded_and_others_are_not(monkeypatch):
    """RANK, MASTER_ADDR, TORCHELASTIC_RUN_ID and ACCELERATE_* are kept (secrets redacted); the rest is not."""
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.7")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-17")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    monkeypatch.setenv("ACCELERATE_HUB_TOKEN", "hf_should_not_show_1234")
    monkeypatch.setenv("HF_TOKEN", "hf_never_recorded_5678")
    env = fingerprint()
    launcher = env["launcher"]
    assert launcher["RANK"] == "3" and launcher["MASTER_ADDR"] == "10.0.0.7"
    assert launcher["TORCHELASTIC_RUN_ID"] == "job-17" and launcher["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert launcher["ACCELERATE_HUB_TOKEN"] == "***REDACTED***"
    assert "HF_TOKEN" not in launcher and "hf_never_recorded_5678" not in json.dumps(env)
    assert env["rank"] == 3 and env["world_size"] == 4
    assert fingerprint(rank=1, world_size=2)["world_size"] == 2


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_of_the_working_directory(tmp_path, monkeypatch):
    """Inside a git repository: the HEAD commit and whether tracked files changed; outside: None."""
    assert fingerprint()["git"] is None  # the test's own tmp directory is no repository
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "train.py"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    monkeypatch.chdir(repo)
    assert fingerprint()["git"] == {"commit": head.stdout.strip(), "dirty": False}
    (repo / "train.py").write_text("print(2)\n")
    assert git_commit(repo) == {"commit": head.stdout.strip(), "dirty": True}


def test_no_git_is_no_error(monkeypatch):
    """Without a git executable the fingerprint says None for git and nothing fails."""
    monkeypatch.setenv("PATH", "")
    assert git_commit() is None


def test_fingerprint_does_not_import_torch():
    """In a process that has not imported torch, the fingerprint neither imports it nor asks CUDA."""
    code = (
        "import sys, json; from events.environment import fingerprint; env = fingerprint(); "
        "print(json.dumps([env['devices'], 'torch' in sys.modules, env['packages']['torch']]))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )
    devices, imported, version = json.loads(done.stdout)
    assert devices == {"torch_imported": False} and imported is False
    assert version == metadata.version("torch")


def test_devices_seen_by_an_imported_torch():
    """With torch imported: whether CUDA is available and how many devices (0 on this CPU build)."""
    import torch

    devices = fingerprint()["devices"]
    assert devices["torch_imported"] is True
    assert devices["cuda_available"] == torch.cuda.is_available()
    assert devices["cuda_device_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
