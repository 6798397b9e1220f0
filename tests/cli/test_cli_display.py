"""The progress board and its renderers, fed by a real set-up's events."""

from __future__ import annotations

import io

import pytest

from fsm import PHASES, InitConfig, PhaseError, RetryPolicy, TrainerInit
from fsm.cli._display import PhaseBoard, PlainDisplay, live_table, make_console, summary_table
from fsm.demo import SyntheticRegression, TinyMLP


def _flaky_model_init():
    calls = []

    def model_init():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("connection reset while downloading weights")
        return TinyMLP()

    return model_init


def _run_with_board(**inputs):
    out = io.StringIO()
    board = PhaseBoard()
    retry = {"resolve_model": RetryPolicy(max_attempts=2, initial_delay=0.0, jitter=0.0)}
    init = TrainerInit(InitConfig(output_dir="out", use_cpu=True), retry=retry, log=False, **inputs)
    init.bus.subscribe("*", board, priority=100)
    init.bus.subscribe("*", PlainDisplay(board, out))
    return init, board, out


def test_board_follows_a_run_with_a_retry():
    """Every phase ends done with a duration and a decision; the retried phase counts 2 attempts."""
    init, board, out = _run_with_board(model_init=_flaky_model_init(), train_dataset=SyntheticRegression(32))
    init.run()
    rows = list(board.rows.values())
    assert [r.trigger for r in rows] == [p.trigger for p in PHASES]
    assert all(r.status == "done" and r.duration_s is not None and r.decision for r in rows)
    assert board.rows["resolve_model"].attempts == 2 and board.rows["resolve_model"].retried
    assert board.rows["resolve_model"].decision == "TinyMLP from model_init: 321 parameters, float32"
    assert board.rows["seed"].decision == "seed 42"
    assert board.rows["prepare_output"].decision == "out (created)"
    assert board.total_s is not None and board.run_id == init.bus.run_id
    lines = out.getvalue().splitlines()
    assert len(lines) == len(PHASES) + 2
    assert "resolve_model      failed on attempt 1: ConnectionError: connection reset" in lines[2]
    assert "retrying in 0.00 s (attempt 2)" in lines[3]
    assert lines[4].endswith("(attempt 2)")


def test_board_and_summary_after_a_final_failure():
    """A phase that fails for good is `failed` with its error; later phases are 'not run'."""

    def model_init():
        raise RuntimeError("weights are corrupt")

    init, board, out = _run_with_board(model_init=model_init, train_dataset=SyntheticRegression(16))
    with pytest.raises(PhaseError, match="resolve_model"):
        init.run()
    row = board.rows["resolve_model"]
    assert row.status == "failed" and row.error == "RuntimeError: weights are corrupt"
    assert [r.status for r in board.rows.values()][3:] == ["pending"] * (len(PHASES) - 3)
    assert "resolve_model      FAILED on attempt 1: RuntimeError: weights are corrupt" in out.getvalue()
    console = make_console(io.StringIO(), plain=True)
    with console.capture() as captured:
        console.print(summary_table(board))
    text = captured.get()
    assert "FAILED: RuntimeError: weights are corrupt" in text
    assert text.count("not run") == len(PHASES) - 3


def test_live_table_shows_status_of_each_phase():
    """The live table has a row per phase: done rows with a tick, pending rows with a dot."""
    init, board, _ = _run_with_board(model=TinyMLP(), train_dataset=SyntheticRegression(16))
    for _ in range(3):
        init.step()
    console = make_console(io.StringIO(), plain=True)
    with console.capture() as captured:
        console.print(live_table(board))
    text = captured.get()
    assert text.count("✓ done") == 3
    assert text.count("· pending") == len(PHASES) - 3
