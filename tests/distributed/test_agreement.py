"""The agreement protocol of `fsm.distributed`, with ranks as threads sharing a real c10d store.

The test starts a real `torch.distributed.TCPStore` server on 127.0.0.1 (as torchrun's
agent does) and gives each rank its own client; each thread plays one rank.
"""

from __future__ import annotations

import threading
import time

import pytest

from fsm import NO_RETRY, AgreementTimeoutError, ConfigError, RemotePhaseError, RetryPolicy, TrainerInit
from fsm.distributed import LaunchInfo, RankAgreement, format_summary, gather_summary

POLICY = RetryPolicy(max_attempts=3)
ENV = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def _pair():
    """Two ranks, each with its own client of a real TCPStore on 127.0.0.1 (a free port)."""
    from datetime import timedelta

    from torch.distributed import TCPStore

    server = TCPStore("127.0.0.1", 0, None, True, timedelta(seconds=10), wait_for_workers=False)
    clients = [
        TCPStore("127.0.0.1", server.port, None, False, timedelta(seconds=10), wait_for_workers=False) for _ in (0, 1)
    ]
    agreements = [
        RankAgreement(LaunchInfo(rank=r, world_size=2, launch_id="t"), store=clients[r], instance=0) for r in (0, 1)
    ]
    return agreements, server


def _together(calls):
    """Run one callable per rank in threads; returns their results (or exceptions) by rank."""
    results = [None] * len(calls)

    def target(i):
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_success_on_every_rank_agrees_on_no_error():
    """When the phase succeeds on both ranks, both go on (no error)."""
    (a, b), _ = _pair()
    results = _together(
        [lambda: a.agree("seed", 1, None, policy=POLICY, timeout=5)] * 1
        + [lambda: b.agree("seed", 1, None, policy=POLICY, timeout=5)]
    )
    assert results == [None, None]


def test_a_failure_on_one_rank_fails_the_phase_on_every_rank_naming_it():
    """Rank 1's error reaches rank 0 as a RemotePhaseError naming rank 1, the phase and the cause."""
    (a, b), _ = _pair()
    boom = ValueError("weights unreadable")
    results = _together(
        [lambda: a.agree("resolve_model", 1, None, policy=POLICY, timeout=5),
         lambda: b.agree("resolve_model", 1, boom, policy=POLICY, timeout=5)]
    )  # fmt: skip
    for err in results:
        assert isinstance(err, RemotePhaseError)
        assert (err.rank, err.phase, err.agreed_retry) == (1, "resolve_model", False)
        assert err.failures == {1: "ValueError: weights unreadable"}
        assert "failed on rank 1 of 2: ValueError: weights unreadable" in str(err)
    assert results[1].__cause__ is boom and results[0].__cause__ is None


def test_a_transient_failure_is_retried_by_every_rank_while_all_have_attempts_left():
    """A transient error on rank 1 gives agreed_retry on both ranks; with no attempts left on rank 0, none."""
    (a, b), _ = _pair()
    results = _together(
        [lambda: a.agree("resolve_model", 1, None, policy=POLICY, timeout=5),
         lambda: b.agree("resolve_model", 1, ConnectionError("reset"), policy=POLICY, timeout=5)]
    )  # fmt: skip
    assert [e.agreed_retry for e in results] == [True, True]
    assert all(POLICY.should_retry(e, 1) for e in results)
    results = _together(
        [lambda: a.agree("resolve_model", 2, None, policy=NO_RETRY, timeout=5),
         lambda: b.agree("resolve_model", 2, ConnectionError("reset"), policy=POLICY, timeout=5)]
    )  # fmt: skip
    assert [e.agreed_retry for e in results] == [False, False]


def test_another_ranks_report_of_the_main_process_failure_is_not_the_cause():
    """A RemotePhaseError raised inside a phase (about rank 0) does not hide rank 0's own failure."""
    (a, b), _ = _pair()
    secondary = RemotePhaseError("main failed", phase="prepare_output", attempt=0, rank=0)
    results = _together(
        [lambda: a.agree("prepare_output", 1, ConnectionError("hub down"), policy=POLICY, timeout=5),
         lambda: b.agree("prepare_output", 1, secondary, policy=POLICY, timeout=5)]
    )  # fmt: skip
    for err in results:
        assert err.rank == 0 and err.failures == {0: "ConnectionError: hub down"}
        assert err.agreed_retry is True


def test_a_rank_that_never_reports_is_named_after_the_timeout():
    """Rank 0 alone waits `timeout` seconds, then fails with AgreementTimeoutError naming rank 1."""
    (a, _b), _ = _pair()
    started = time.monotonic()
    err = a.agree("place", 1, None, policy=POLICY, timeout=0.3)
    elapsed = time.monotonic() - started
    assert isinstance(err, AgreementTimeoutError)
    assert (err.rank, err.missing, err.phase) == (1, (1,), "place")
    assert "rank 1 of 2 did not report an outcome within 0.3s" in str(err)
    assert 0.25 < elapsed < 5


def test_a_late_rank_adopts_the_timeout_verdict_so_both_fail_alike():
    """Rank 1 reporting after rank 0 gave up fails with the same timeout error instead of going on."""
    (a, b), _ = _pair()
    first = a.agree("place", 1, None, policy=POLICY, timeout=0.2)
    late = b.agree("place", 1, None, policy=POLICY, timeout=5)
    assert isinstance(first, AgreementTimeoutError) and isinstance(late, AgreementTimeoutError)
    assert str(first) == str(late)


def test_ranks_in_different_phases_are_reported_out_of_step():
    """Outcomes of different phases in one round fail both ranks, naming what each ran."""
    (a, b), _ = _pair()
    results = _together(
        [lambda: a.agree("place", 1, None, policy=POLICY, timeout=5),
         lambda: b.agree("introspect", 1, None, policy=POLICY, timeout=5)]
    )  # fmt: skip
    for err in results:
        assert isinstance(err, RemotePhaseError)
        assert "out of step" in str(err) and "rank 1 ran 'introspect'" in str(err)
        assert err.agreed_retry is False


def test_every_rank_gets_the_same_run_id_and_the_main_process_gathers_every_row():
    """run_id: the first proposal wins on every rank; gather: rank 0 gets both rows, rank 1 None."""
    (a, b), _ = _pair()
    assert a.run_id(5) == b.run_id(5)
    results = _together(
        [lambda: a.gather({"state": "Ready"}, timeout=5), lambda: b.gather({"state": "Failed"}, timeout=5)]
    )
    assert results[1] is None
    assert [(r["rank"], r["state"]) for r in results[0]] == [(0, "Ready"), (1, "Failed")]


def test_gather_names_a_rank_that_never_reports():
    """A summary row for a silent rank says it did not report."""
    (a, _b), _ = _pair()
    rows = a.gather({"state": "Ready"}, timeout=0.2)
    assert rows[1] == {"rank": 1, "state": "unknown", "error": "did not report within 0.2s"}
    assert format_summary(rows) == "rank 0: Ready\nrank 1: unknown: did not report within 0.2s"


def test_a_single_process_needs_no_store_and_keeps_its_own_outcome(cpu_config, mlp_inputs):
    """Without a launcher, agree returns the local error and the summary is this rank's row."""
    agreement = RankAgreement(LaunchInfo())
    boom = ValueError("x")
    assert agreement.agree("seed", 1, boom, policy=POLICY, timeout=1) is boom
    assert agreement.run_id(1) is None
    init = TrainerInit(cpu_config, log=False, **mlp_inputs)
    init.run()
    rows = gather_summary(init)
    assert [(r["rank"], r["state"], r["run_id"]) for r in rows] == [(0, "Ready", init.bus.run_id)]


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"RANK": "one"}, r"RANK='one' is not an integer"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, r"RANK=2 and WORLD_SIZE=2 .* do not fit"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, r"MASTER_ADDR and MASTER_PORT is not set"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, r"MASTER_PORT is not set.*torchrun"),
    ],
)
def test_a_broken_launch_environment_is_rejected_naming_the_variable(env, match):
    """Malformed or incomplete launcher variables give a ConfigError naming them and the fix."""
    with pytest.raises(ConfigError, match=match):
        LaunchInfo.from_env(env)


def test_the_launch_environment_is_read():
    """torchrun's variables give the rank, world, store address, launch id and agent store."""
    info = LaunchInfo.from_env(
        {**ENV, "RANK": "1", "TORCHELASTIC_RUN_ID": "abc", "TORCHELASTIC_USE_AGENT_STORE": "True"}
    )
    assert (info.rank, info.world_size, info.master_addr, info.master_port) == (1, 2, "127.0.0.1", 29500)
    assert (info.launch_id, info.agent_store, info.is_distributed) == ("abc", True, True)


@pytest.mark.parametrize("timeout", [0, -1, "10", True, float("nan"), float("inf")])
def test_a_bad_agreement_timeout_is_rejected(timeout, cpu_config):
    """agreement_timeout must be a positive number; the error names the argument."""
    with pytest.raises(ConfigError, match=r"agreement_timeout=.* must be a positive number of seconds"):
        TrainerInit(cpu_config, agreement_timeout=timeout, log=False)


def test_the_timeout_defaults_to_ddp_timeout(cpu_config):
    """Without agreement_timeout, ranks wait as long as a collective would (ddp_timeout)."""
    assert RankAgreement(LaunchInfo()).timeout_for(cpu_config.replace(ddp_timeout=77)) == 77.0
    assert RankAgreement(LaunchInfo(), timeout=3).timeout_for(cpu_config) == 3.0


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_store_fails_the_construction_naming_the_address(monkeypatch, cpu_config):
    """WORLD_SIZE=2 with nothing at MASTER_ADDR:MASTER_PORT: TrainerInit raises AgreementTimeoutError saying where."""
    port = _closed_port()
    env = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    started = time.monotonic()
    with pytest.raises(
        AgreementTimeoutError, match=rf"rank 1 could not reach the launcher's store at 127.0.0.1:{port}"
    ):
        TrainerInit(cpu_config, agreement_timeout=0.5, log=False)
    assert time.monotonic() - started < 10


def test_losing_the_store_mid_run_fails_the_phase_instead_of_raising_from_the_machine():
    """A store that went away: agree returns an AgreementTimeoutError (lost contact), the local error as its cause."""
    from datetime import timedelta

    from torch.distributed import TCPStore

    server = TCPStore("127.0.0.1", 0, None, True, timedelta(seconds=2), wait_for_workers=False)
    client = TCPStore("127.0.0.1", server.port, None, False, timedelta(seconds=2), wait_for_workers=False)
    agreement = RankAgreement(LaunchInfo(rank=1, world_size=2, launch_id="t"), store=client, instance=0)
    del server  # the store's server stops
    boom = ValueError("local")
    err = agreement.agree("place", 1, boom, policy=POLICY, timeout=1)
    assert isinstance(err, AgreementTimeoutError)
    assert "rank 1 lost contact with the launcher's store" in str(err) and err.phase == "place"
    assert err.__cause__ is boom and err.agreed_retry is False


def _hand_made(rank: int, port: int, launch_id: str, instance: int) -> RankAgreement:
    """A rank of a hand-made launch (no torchrun agent): rank 0 hosts the store on `port`."""
    return RankAgreement(
        LaunchInfo(rank=rank, world_size=2, master_addr="127.0.0.1", master_port=port, launch_id=launch_id),
        instance=instance,
    )


def test_a_hand_made_launch_keeps_rank_0s_store_after_the_set_up_that_hosted_it_is_gone():
    """Rank 0's server outlives its first RankAgreement: rank 1's connection and keys survive, a later set-up agrees."""
    import gc

    port = _closed_port()
    first = [_hand_made(r, port, "keep", 0) for r in (0, 1)]
    ids = _together([lambda a=a: a.run_id(5) for a in first])
    assert ids[0] == ids[1] and isinstance(ids[0], str)
    del first[0]  # the set-up that hosted the store is gone on rank 0
    gc.collect()
    assert first[0].run_id(5) == ids[0]  # rank 1 still reaches the same server, with its keys
    second = [_hand_made(r, port, "keep", 1) for r in (0, 1)]
    boom = ValueError("weights unreadable")
    errors = _together(
        [
            lambda a=a, e=e: a.agree("place", 1, e, policy=NO_RETRY, timeout=5)
            for a, e in zip(second, (None, boom), strict=True)
        ]
    )
    assert all(isinstance(e, RemotePhaseError) and e.rank == 1 for e in errors), errors


def test_a_client_that_reached_a_server_dropped_before_rank_0_hosts_reconnects_to_rank_0s():
    """Something else in rank 0's process hosted the port and drops it: rank 1, connected there, ends on rank 0's."""
    from datetime import timedelta

    from torch.distributed import TCPStore

    port = _closed_port()
    earlier = TCPStore("127.0.0.1", port, None, True, timedelta(seconds=5), wait_for_workers=False, multi_tenant=True)
    rank1 = _hand_made(1, port, "stale", 0)
    ids: list = []
    waiting = threading.Thread(target=lambda: ids.append(rank1.run_id(10)))
    waiting.start()
    time.sleep(0.5)  # rank 1 is connected to the earlier server
    del earlier  # its last reference: that server stops, its connections break
    rank0 = _hand_made(0, port, "stale", 0)
    run_id = rank0.run_id(10)
    waiting.join(15)
    assert ids == [run_id]
