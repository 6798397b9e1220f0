"""Two real processes under torchrun (CPU, gloo): one audit file per rank, each verifying."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from events.audit import diff, read, verify

pytestmark = pytest.mark.multiprocess

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, pathlib, sys
from fsm import InitConfig, TrainerInit
from fsm.demo import demo_inputs

init = TrainerInit(InitConfig(output_dir=sys.argv[1], use_cpu=True), **demo_inputs("mlp", samples=16), log=False)
setup = init.run()
# one report file per rank: two processes printing at once can interleave their lines
report = pathlib.Path(sys.argv[2]) / f"rank{init.bus.rank}.json"
report.write_text(json.dumps({"rank": init.bus.rank, "audit_path": setup.audit_path}))
"""


def test_each_rank_writes_its_own_verifying_file(tmp_path):
    """torchrun, 2 ranks: one verifying file per rank, same run id, world size and launcher variables."""
    script = tmp_path / "set_up.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    reports = tmp_path / "reports"
    reports.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*torchrun, str(script), str(out), str(reports)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reported = [json.loads(p.read_text()) for p in sorted(reports.iterdir())]
    assert sorted(r["rank"] for r in reported) == [0, 1]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["trainer_fsm_audit.jsonl", "trainer_fsm_audit_rank1.jsonl"]
    logs = {rank: read(out / name) for rank, name in enumerate(files)}
    for rank, log in logs.items():
        assert verify(log.path).ok
        assert log.records[-1].event == "InitReady" and log.records[-1].data["rank"] == rank
        environment = log.records[0].payload["environment"]
        assert environment["world_size"] == 2 and environment["launcher"]["RANK"] == str(rank)
        assert environment["launcher"]["MASTER_ADDR"]
    assert logs[0].run_ids() == logs[1].run_ids()  # one set-up, told by both ranks
    differences = diff(out / files[0], out / files[1]).keys()
    assert "environment.rank" in differences and "environment.launcher.LOCAL_RANK" in differences
    assert "environment.pid" not in differences  # volatile: hidden
