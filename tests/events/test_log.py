"""The structlog subscriber: levels, renderers, bound keys, and no global configuration."""

from __future__ import annotations

import io
import json
import logging

import structlog

from events import EventBus, InitStarted, PhaseFailed, PhaseStarted, StructlogSubscriber


def test_json_renderer_writes_bound_keys():
    """Each event is one JSON line with run_id, phase, rank and the payload."""
    stream = io.StringIO()
    bus = EventBus(run_id="abc", rank=1)
    bus.subscribe("*", StructlogSubscriber(renderer="json", stream=stream))
    bus.emit(PhaseStarted, phase="seed", attempt=1, source="Uninitialized", dest="Seeded")
    line = json.loads(stream.getvalue().strip())
    assert line["event"] == "PhaseStarted"
    assert (line["run_id"], line["phase"], line["rank"], line["attempt"]) == ("abc", "seed", 1, 1)
    assert line["dest"] == "Seeded" and line["level"] == "info"


def test_level_filters_and_failures_are_errors():
    """At level warning, info events are dropped and a final PhaseFailed is an error."""
    stream = io.StringIO()
    bus = EventBus()
    bus.subscribe("*", StructlogSubscriber(renderer="json", level="warning", stream=stream))
    bus.emit(PhaseStarted)
    bus.emit(PhaseFailed, error="x", final=True)
    lines = [json.loads(s) for s in stream.getvalue().splitlines()]
    assert [(e["event"], e["level"]) for e in lines] == [("PhaseFailed", "error")]


def test_secrets_in_payload_are_redacted():
    """A token inside the config payload never reaches the log line."""
    stream = io.StringIO()
    bus = EventBus()
    bus.subscribe("*", StructlogSubscriber(renderer="console", stream=stream))
    bus.emit(InitStarted, config={"hub_token": "hf_canary_123456", "seed": 1})
    assert "hf_canary_123456" not in stream.getvalue()
    assert "REDACTED" in stream.getvalue()


def test_global_logging_is_left_alone():
    """Creating and using the subscriber configures neither structlog nor the root logger."""
    was_configured = structlog.is_configured()
    root_level, root_handlers = logging.getLogger().level, list(logging.getLogger().handlers)
    bus = EventBus()
    bus.subscribe("*", StructlogSubscriber(renderer="json", stream=io.StringIO()))
    bus.emit(PhaseStarted)
    assert structlog.is_configured() == was_configured
    assert logging.getLogger().level == root_level
    assert logging.getLogger().handlers == root_handlers


def test_unknown_level_is_rejected():
    """A level that is not a log level is refused with the valid ones."""
    import pytest

    with pytest.raises(ValueError, match="not a log level"):
        StructlogSubscriber(level="loud")
