"""Two real processes under torchrun (CPU, gloo): every rank, one story, no hangs.

One torchrun launch (``--standalone --nproc_per_node 2``) runs every scenario of
`_scenarios.py` in turn, each with a fresh `TrainerInit` per rank and a failure injected
on one rank only; each rank writes what it saw to a JSON file, and the tests below read
them. The launch has a hard timeout, so a hang fails the tests instead of stalling them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.multiprocess

SCRIPT = Path(__file__).with_name("_scenarios.py")
REPO = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "fail_seed",  # first: no process group exists yet on either rank
    "transient_accelerate",  # still none: rank 1 fails before creating it
    "ready",
    "fail_resolve_model",
    "fail_place",
    "async_fail_place",  # the same, with AsyncTrainerInit
    "fail_prepare_output",
    "fail_main_output",
    "transient",
    "resume",
    "hub",
    "timeout",
)
LAUNCH_TIMEOUT_S = 150
AGREEMENT_TIMEOUT_S = 60  # what the scenarios pass, except "timeout" (1.5 s)
PROMPT_S = 5.0  # a failure reaches every rank within this (measured: about 0.1 s), far below the timeout


class _Hub:
    """A local hub on 127.0.0.1 for huggingface_hub's repo creation: the first request gets a 503."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        requests = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                requests.append((self.path, body))
                status, data = (503, {"error": "busy"}) if len(requests) == 1 else (200, {"url": f"{url}/team/tiny"})
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        url = self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Launch the scenarios once; ``ranks[name]`` is [rank 0's result, rank 1's result]."""
    out = tmp_path_factory.mktemp("torchrun")
    hub = _Hub()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        env.pop(name, None)
    env["HF_ENDPOINT"] = hub.url
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(SCRIPT),
        str(out),
        *SCENARIOS,
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"torchrun did not finish within {LAUNCH_TIMEOUT_S}s (a hang): {str(exc.stderr)[-3000:]}")
    finally:
        hub.close()
    if proc.returncode != 0:
        pytest.fail(f"torchrun failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    results = {name: [json.loads((out / f"{name}.rank{r}.json").read_text()) for r in (0, 1)] for name in SCENARIOS}
    results["_launch_s"] = time.monotonic() - started  # type: ignore[assignment]
    results["_out"] = out  # type: ignore[assignment]
    results["_hub_requests"] = hub.requests  # type: ignore[assignment]
    return results


def _events(result, name=None, phase=None):
    return [
        e for e in result["events"] if (name is None or e["event"] == name) and (phase is None or e["phase"] == phase)
    ]


def _final_error(result):
    """The RemotePhaseError in the error chain (what `init.error` is)."""
    return next(c for c in result["error"] if c["type"] in ("RemotePhaseError", "AgreementTimeoutError"))


def test_both_ranks_reach_ready_with_one_run_id_and_their_rank_on_every_event(ranks):
    """Both ranks end Ready; every event (from InitStarted on) carries the shared run_id, its rank and world size 2."""
    r0, r1 = ranks["ready"]
    assert (r0["state"], r1["state"]) == ("Ready", "Ready")
    assert r0["run_id"] == r1["run_id"]
    for rank, result in enumerate((r0, r1)):
        events = result["events"]
        assert events[0]["event"] == "InitStarted" and events[-1]["event"] == "InitReady"
        assert {(e["run_id"], e["rank"], e["world_size"]) for e in events} == {(r0["run_id"], rank, 2)}


def test_only_the_main_process_creates_the_output_dir_and_the_other_sees_it(ranks):
    """OutputPrepared: rank 0 created the directory as main process; rank 1 did not, and sees it."""
    r0, r1 = ranks["ready"]
    (fact0,) = _events(r0, "OutputPrepared")
    (fact1,) = _events(r1, "OutputPrepared")
    assert (fact0["created"], fact0["main_process"]) == (True, True)
    assert (fact1["created"], fact1["main_process"]) == (False, False)
    assert fact0["output_dir"] == fact1["output_dir"]
    assert r1["output_dir_exists"] and (ranks["_out"] / "ready" / "run").is_dir()


def test_each_rank_writes_its_own_audit_file_that_verifies_and_holds_its_rank(ranks):
    """rank 0: output_dir/trainer_fsm_audit.jsonl, rank 1: ..._rank1.jsonl; both intact, each only its own rank."""
    from events.audit import read, verify

    run_dir = ranks["_out"] / "ready" / "run"
    expected = [run_dir / "trainer_fsm_audit.jsonl", run_dir / "trainer_fsm_audit_rank1.jsonl"]
    for rank, result in enumerate(ranks["ready"]):
        assert Path(result["audit_path"]) == expected[rank]
        checked = verify(expected[rank])
        assert checked.ok, checked.summary()
        assert checked.runs == (result["run_id"],)
        records = read(expected[rank]).records
        assert records[0].event == "InitStarted" and records[-1].event == "InitReady"
        assert {(r.data["rank"], r.data["world_size"]) for r in records} == {(rank, 2)}


@pytest.mark.parametrize("scenario", ["fail_seed", "fail_resolve_model", "fail_place", "fail_prepare_output"])
def test_the_audit_file_of_each_rank_says_which_rank_failed(ranks, scenario):
    """After a failure on rank 1, both ranks' audit files verify and record PhaseFailed and InitFailed naming rank 1."""
    from events.audit import read, verify

    phase = scenario.removeprefix("fail_")
    for rank, result in enumerate(ranks[scenario]):
        path = Path(result["audit_path"])
        assert path.name == ("audit.jsonl" if rank == 0 else "audit_rank1.jsonl")
        checked = verify(path)
        assert checked.ok, checked.summary()
        records = read(path).records
        assert {r.data["rank"] for r in records} == {rank}
        failed = [r for r in records if r.event == "PhaseFailed" and r.phase == phase]
        assert len(failed) == 1 and "failed on rank 1 of 2" in failed[0].data["payload"]["error"]
        assert records[-1].event == "InitFailed" and records[-1].data["payload"]["failed_phase"] == phase


def test_the_hub_repo_is_created_once_by_the_main_process_and_both_ranks_see_it(ranks):
    """One 503 from the hub: both ranks retry prepare_output together; only rank 0 asked the hub; both get the repo."""
    assert [path for path, _ in ranks["_hub_requests"]] == ["/api/repos/create", "/api/repos/create"]
    for rank, result in enumerate(ranks["hub"]):
        assert result["state"] == "Ready"
        assert [e["attempt"] for e in _events(result, "PhaseStarted", "prepare_output")] == [1, 2]
        (fact,) = _events(result, "OutputPrepared")
        assert (fact["hub_repo"], fact["main_process"]) == ("team/tiny", rank == 0)
        (retrying,) = _events(result, "PhaseRetrying", "prepare_output")
        assert "failed on rank 0 of 2" in retrying["error"]


def test_the_main_process_gathers_a_summary_of_every_rank(ranks):
    """gather_summary: rank 0 holds one row per rank (state, run_id, pid); rank 1 gets None."""
    r0, r1 = ranks["ready"]
    assert r1["summary"] is None
    rows = r0["summary"]
    assert [(row["rank"], row["state"], row["run_id"]) for row in rows] == [
        (0, "Ready", r0["run_id"]),
        (1, "Ready", r0["run_id"]),
    ]
    assert rows[0]["pid"] != rows[1]["pid"]
    assert r0["summary_text"] == "rank 0: Ready\nrank 1: Ready"


@pytest.mark.parametrize("phase", ["resolve_model", "place", "prepare_output"])
def test_a_failure_on_rank_1_fails_the_phase_on_both_ranks_promptly(ranks, phase):
    """Both ranks end Failed in the phase with a RemotePhaseError naming rank 1, in seconds, not at a timeout."""
    for rank, result in enumerate(ranks[f"fail_{phase}"]):
        assert (result["state"], result["failed_phase"]) == ("Failed", phase)
        assert result["error"][0]["type"] == "PhaseError" and result["error"][0]["phase"] == phase
        err = _final_error(result)
        assert err["rank"] == 1 and err["phase"] == phase
        assert f"phase '{phase}' failed on rank 1 of 2" in err["message"]
        assert result["elapsed_s"] < PROMPT_S, f"rank {rank} took {result['elapsed_s']:.1f}s"
        if rank == 1:  # the rank that failed keeps its own exception as the cause
            assert result["error"][-1]["type"] in ("InjectedError", "ValueError")
        # every rank rolled the phase back, and its events say so, naming rank 1
        (failed,) = _events(result, "PhaseFailed", phase)
        assert failed["error_type"] == "RemotePhaseError" and "failed on rank 1 of 2" in failed["error"]
        assert failed["final"] is True
        assert _events(result, "PhaseRolledBack", phase)[0]["reason"] == "failed"
        (init_failed,) = _events(result, "InitFailed")
        assert init_failed["failed_phase"] == phase and "rank 1" in init_failed["error"]
        assert not _events(result, "PhaseCompleted", phase)


def test_the_async_machine_agrees_the_same_way(ranks):
    """AsyncTrainerInit under torchrun: a failure at place on rank 1 fails both ranks, naming rank 1, promptly."""
    for result in ranks["async_fail_place"]:
        assert (result["state"], result["failed_phase"]) == ("Failed", "place")
        err = _final_error(result)
        assert (err["rank"], err["phase"]) == (1, "place")
        assert result["elapsed_s"] < PROMPT_S
        assert [e["event"] for e in _events(result)][-1] == "InitFailed"


def test_a_failure_on_rank_1_at_prepare_output_removes_the_dir_rank_0_created(ranks):
    """Rank 0's phase succeeded, but rolling it back with rank 1 removes the directory it had created."""
    r0, _ = ranks["fail_prepare_output"]
    assert not r0["output_dir_exists"]
    assert not (ranks["_out"] / "fail_prepare_output" / "run").exists()


def test_a_failure_in_the_main_only_block_does_not_leave_rank_1_at_the_barrier(ranks):
    """The main process failing while preparing output reaches rank 1 at once; both name rank 0."""
    for result in ranks["fail_main_output"]:
        assert (result["state"], result["failed_phase"]) == ("Failed", "prepare_output")
        err = _final_error(result)
        assert err["rank"] == 0 and "failed on rank 0 of 2: InjectedError: hub repository refused" in err["message"]
        assert result["elapsed_s"] < PROMPT_S


def test_a_failure_before_the_process_group_exists_is_agreed_too(ranks):
    """The seed phase (no process group yet) failing on rank 1 fails both ranks, naming rank 1."""
    for result in ranks["fail_seed"]:
        assert (result["state"], result["failed_phase"]) == ("Failed", "seed")
        err = _final_error(result)
        assert (err["rank"], err["phase"]) == (1, "seed")
        assert not _events(result, "AcceleratorReady")
        assert result["elapsed_s"] < PROMPT_S


def test_a_transient_failure_before_joining_the_process_group_is_retried_without_a_hang(ranks):
    """Rank 1 fails accelerate once before the group exists, rank 0 waits in its rendezvous: both retry, reach Ready."""
    for result in ranks["transient_accelerate"]:
        assert result["state"] == "Ready"
        (retrying,) = _events(result, "PhaseRetrying", "accelerate")
        assert retrying["attempt"] == 2 and "failed on rank 1 of 2: ConnectionError" in retrying["error"]
        assert [e["attempt"] for e in _events(result, "PhaseStarted", "accelerate")] == [1, 2]
        assert _events(result, "AcceleratorReady")[0]["num_processes"] == 2
        assert result["elapsed_s"] < PROMPT_S


def test_a_transient_failure_on_one_rank_is_retried_by_both(ranks):
    """ConnectionError on rank 1 only: both ranks retry resolve_model (attempt 2) and reach Ready."""
    for result in ranks["transient"]:
        assert result["state"] == "Ready"
        (retrying,) = _events(result, "PhaseRetrying", "resolve_model")
        assert retrying["attempt"] == 2 and "rank 1" in retrying["error"]
        (failed,) = _events(result, "PhaseFailed", "resolve_model")
        assert failed["final"] is False
        assert _events(result, "PhaseCompleted", "resolve_model")[0]["attempt"] == 2
        assert result["model_init_calls"] == 2  # rank 0 rebuilt its model as well


def test_resume_and_reconfigure_rerun_phases_on_both_ranks_together(ranks):
    """A final failure on rank 1 fails both; resume() re-runs place on both; reconfigure(output_dir) then
    re-runs prepare_output on both, the new directory created by rank 0 only."""
    for rank, result in enumerate(ranks["resume"]):
        assert result["state_after_failure"] == "Failed"
        assert _final_error(result)["rank"] == 1
        assert result["state"] == "Ready"
        assert [e["attempt"] for e in _events(result, "PhaseStarted", "place")] == [1, 2]
        (reconfigured,) = _events(result, "Reconfigured")
        assert reconfigured["state"] == "CallbacksRegistered"
        facts = _events(result, "OutputPrepared")
        assert [Path(f["output_dir"]).name for f in facts] == ["run", "run2"]
        assert facts[1]["created"] is (rank == 0)
    assert (ranks["_out"] / "resume" / "run2").is_dir()


def test_a_rank_that_never_reports_is_named_when_the_agreement_times_out(ranks):
    """Rank 1 stuck past agreement_timeout=1.5s: rank 0 fails after about 1.5s naming rank 1; rank 1 fails alike."""
    r0, r1 = ranks["timeout"]
    for result in (r0, r1):
        assert (result["state"], result["failed_phase"]) == ("Failed", "introspect")
        err = _final_error(result)
        assert err["type"] == "AgreementTimeoutError" and err["missing"] == [1]
        assert "rank 1 of 2 did not report an outcome within 1.5s" in err["message"]
    assert 1.4 < r0["elapsed_s"] < 3.5
    assert r1["elapsed_s"] >= 4.0  # it finished its slow phase, then adopted the same verdict


def test_the_launch_stays_fast(ranks):
    """All the scenarios together, including process start-up, finish well within the hard timeout."""
    assert ranks["_launch_s"] < LAUNCH_TIMEOUT_S / 2


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_hand_made_launch_without_torchrun_agrees_too(tmp_path):
    """Two plain processes with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT: rank 0 hosts the store, shared
    with torch's env:// rendezvous; both reach Ready, and a failure on rank 1 at place fails both, naming it."""
    port = str(_free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC_")}
    base.update(OMP_NUM_THREADS="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(SCRIPT), str(tmp_path), "ready", "fail_place"]
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path, env={**base, "RANK": str(r), "LOCAL_RANK": str(r)}, stderr=subprocess.PIPE)
        for r in (0, 1)
    ]
    try:
        errors = [p.communicate(timeout=LAUNCH_TIMEOUT_S)[1].decode(errors="replace") for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
    for r in (0, 1):
        ready = json.loads((tmp_path / f"ready.rank{r}.json").read_text())
        failed = json.loads((tmp_path / f"fail_place.rank{r}.json").read_text())
        assert ready["state"] == "Ready" and _events(ready, "AcceleratorReady")[0]["num_processes"] == 2
        assert (failed["failed_phase"], _final_error(failed)["rank"]) == ("place", 1)
        assert failed["elapsed_s"] < PROMPT_S
