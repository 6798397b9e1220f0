"""The command as a real process: exit codes and output for a YAML config, a rejected
config, a failing phase, and graph in mermaid and dot (the in-process tests cover the
details; the default run and the live display have their own process tests)."""

from __future__ import annotations

import pytest

FILES = {
    "ok.yaml": "output_dir: out/ok\nmodel_init: fsm.demo:TinyMLP\ntrain_dataset: fsm.demo:SyntheticRegression\n",
    "rejected.yaml": "output_dir: out/rejected\nfp16: true\nbf16: true\nmodel_init: fsm.demo:TinyMLP\n",
    "failing.yaml": "output_dir: out/failing\nmodel_init: process_factories:broken\n",
    "process_factories.py": "def broken():\n    raise OSError('disk quota exceeded while loading weights')\n",
}

CASES = [
    (("init", "ok.yaml"), 0, "stdout", "Ready in "),
    (("init", "rejected.yaml"), 2, "stderr", "[precision.fp16_with_bf16]"),
    (("init", "failing.yaml"), 1, "stderr", "phase 'resolve_model' failed on attempt 1: OSError: disk quota exceeded"),
    (("graph",), 0, "stdout", "Seeded --> Accelerated: accelerate"),
    (("graph", "--format", "dot"), 0, "stdout", '"Seeded" -> "Accelerated" [label="accelerate"];'),
]


def _case_id(value: object) -> str | None:
    return " ".join(value) if isinstance(value, tuple) else None


@pytest.mark.parametrize(("args", "code", "stream", "expected"), CASES, ids=_case_id)
def test_command_exit_code_and_output(command, write, tmp_path, args, code, stream, expected):
    """`python -m fsm ARGS` exits with the documented code and prints the expected line, never a traceback."""
    for name, text in FILES.items():
        write(name, text)
    done = command(*args)
    assert done.returncode == code, done.stderr
    assert expected in getattr(done, stream)
    assert "Traceback" not in done.stderr
    if args[-1] == "rejected.yaml":
        assert not (tmp_path / "out").exists()
