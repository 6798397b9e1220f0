"""The table of states and triggers, and what is derived from it."""

from __future__ import annotations

import itertools

from fsm import FAILED, INITIAL, PHASES, READY, STATES, TRIGGERS, transition_table
from handlers import default_phases


def test_states_and_triggers_in_order():
    """The states and triggers are the eleven phases of the design, in order."""
    assert STATES == (
        "Uninitialized", "Seeded", "Accelerated", "ModelResolved", "StrategyResolved", "Placed",
        "Introspected", "ArgumentsStored", "CallbacksRegistered", "OutputPrepared", "StateInitialized",
        "Ready", "Failed",
    )  # fmt: skip
    assert TRIGGERS == (
        "seed", "accelerate", "resolve_model", "resolve_strategy", "place", "introspect", "store",
        "register_callbacks", "prepare_output", "init_state", "finalize",
    )  # fmt: skip
    assert (INITIAL, READY, FAILED) == ("Uninitialized", "Ready", "Failed")


def test_each_phase_starts_where_the_previous_ended():
    """Sources chain: each phase's source is the previous phase's destination."""
    assert PHASES[0].source == INITIAL
    for before, after in itertools.pairwise(PHASES):
        assert after.source == before.dest


def test_every_trigger_has_a_handler_with_that_trigger():
    """default_phases() covers the table exactly, keyed by each handler's own trigger."""
    phases = default_phases()
    assert tuple(phases) == TRIGGERS
    assert all(p.trigger == t for t, p in phases.items())


def test_transition_table_derives_from_the_phases():
    """Forward edges, fail edges to Failed (not from Ready), rollback edges back."""
    table = transition_table()
    forward = [(t["trigger"], t["source"], t["dest"]) for t in table if t["trigger"] in TRIGGERS]
    assert forward == [(p.trigger, p.source, p.dest) for p in PHASES]
    fail = next(t for t in table if t["trigger"] == "fail")
    assert READY not in fail["source"] and fail["dest"] == FAILED
    back = [(t["source"], t["dest"]) for t in table if t["trigger"] == "rollback"]
    assert back == [(p.dest, p.source) for p in PHASES]
