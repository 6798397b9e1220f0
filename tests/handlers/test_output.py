"""prepare_output: the output directory and the hub repository, through a real HTTP client."""

from __future__ import annotations

from pathlib import Path

import pytest

from events import OutputPrepared
from events.testing import capture_events
from fsm import FAILED, READY, PhaseError, RetryPolicy, TrainerInit


def test_nested_output_dir_is_created_and_rolled_back_when_empty(hub_server, tmp_path, cpu_config, mlp_inputs):
    """Missing parents are created; a failure later in the phase removes exactly those."""
    hub_server.state.fail_next, hub_server.state.fail_status = 1, 400
    out = tmp_path / "a" / "b" / "c"
    init = TrainerInit(
        cpu_config.replace(output_dir=str(out), push_to_hub=True, hub_model_id="me/x"),
        retry=RetryPolicy(max_attempts=1),
        log=False,
        **mlp_inputs,
    )
    with pytest.raises(PhaseError, match="prepare_output"):
        init.run()  # the hub answers 400 after the directories were made
    assert not (tmp_path / "a").exists()
    assert init.state == FAILED


def test_output_dir_that_is_a_file_fails_the_phase_and_keeps_the_file(tmp_path, cpu_config, mlp_inputs):
    """An output_dir that is a regular file is never replaced."""
    target = tmp_path / "taken"
    target.write_text("user data")
    init = TrainerInit(cpu_config.replace(output_dir=str(target)), log=False, **mlp_inputs)
    with pytest.raises(Exception, match="taken"):
        init.run()
    assert target.read_text() == "user data"


def test_hub_repo_is_created_with_the_token(hub_server, cpu_config, mlp_inputs):
    """push_to_hub creates the repo through huggingface_hub; the token goes only to the server."""
    token = "hf_canary_token_0123456789"
    config = cpu_config.replace(push_to_hub=True, hub_model_id="team/tiny", hub_token=token, hub_private_repo=True)
    with capture_events() as events:
        setup = TrainerInit(config, log=False, **mlp_inputs).run()
    assert setup.hub_repo_id == "team/tiny"
    assert events.of_type(OutputPrepared)[0].hub_repo == "team/tiny"
    request = hub_server.state.requests[0]
    assert request["json"]["name"] == "tiny" and request["json"]["organization"] == "team"
    assert request["authorization"] == f"Bearer {token}"
    assert all(token not in str(e.to_dict()) for e in events)


def test_repo_id_derives_from_output_dir(hub_server, tmp_path, cpu_config, mlp_inputs):
    """Without hub_model_id the repo is named after the output directory, as in transformers."""
    config = cpu_config.replace(output_dir=str(tmp_path / "my-model"), push_to_hub=True, hub_token="hf_x_123456")
    setup = TrainerInit(config, log=False, **mlp_inputs).run()
    assert setup.hub_repo_id == "tester/my-model"


def test_hub_failing_twice_is_retried(hub_server, cpu_config, mlp_inputs):
    """Two 503 answers are transient: the phase is retried and the set-up reaches Ready."""
    hub_server.state.fail_next = 2
    init = TrainerInit(cpu_config.replace(push_to_hub=True, hub_model_id="team/tiny"), log=False, **mlp_inputs)
    with capture_events() as events:
        init.run()
    assert init.state == READY
    assert [e.attempt for e in events.of_type(__import__("events").PhaseRetrying)] == [2, 3]
    assert len(hub_server.state.requests) == 3


def test_hub_refusing_connections_fails_then_retry_succeeds(hub_server, cpu_config, mlp_inputs):
    """A hub that refuses connections fails the phase after its retries; retry() once it is back works."""
    hub_server.stop()
    out = Path(cpu_config.resolved_output_dir)
    init = TrainerInit(
        cpu_config.replace(push_to_hub=True, hub_model_id="team/tiny"),
        retry=RetryPolicy(max_attempts=2, initial_delay=0.01),
        log=False,
        **mlp_inputs,
    )
    with pytest.raises(PhaseError, match="prepare_output") as info:
        init.run()
    assert info.value.attempt == 2
    assert not out.exists()  # rolled back
    hub_server.start()
    init.retry()
    assert init.resume().hub_repo_id == "team/tiny" and out.is_dir()


def test_non_transient_hub_error_fails_at_once(hub_server, cpu_config, mlp_inputs):
    """A 400 from the hub is not retried."""
    hub_server.state.fail_next = 1
    hub_server.state.fail_status = 400
    init = TrainerInit(cpu_config.replace(push_to_hub=True, hub_model_id="team/tiny"), log=False, **mlp_inputs)
    with pytest.raises(PhaseError):
        init.run()
    assert len(hub_server.state.requests) == 1
