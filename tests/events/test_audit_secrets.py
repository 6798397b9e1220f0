"""Secrets never reach a file the set-up writes or a log line: canary tokens passed as
hub_token and in environment variables are searched for in every byte written."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from events.audit import read
from fsm import InitConfig, PhaseError, TrainerInit
from fsm.demo import demo_inputs

HUB_CANARY = "hf_CanaryHubToken_5b1f0c2e9d"
ENV_CANARY = "sk-CanaryEnvKey-77e3a9d4c1"
HF_ENV_CANARY = "hf_CanaryEnvToken_0a9c7e11"


class _EchoingHub(BaseHTTPRequestHandler):
    """A hub that refuses every request and echoes the credentials it got, as bad servers do."""

    def _refuse(self) -> None:
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"error": f"Invalid credentials in header: {auth}"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Message", f"token rejected: {auth}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _refuse

    def log_message(self, *args) -> None:  # keep the test's output to what trainer-fsm prints
        pass


@pytest.fixture
def echoing_hub(monkeypatch):
    """A real HTTP server on 127.0.0.1 standing in for the hub; HF_ENDPOINT points at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def canary_env(monkeypatch):
    """Secrets in the environment under secret names, one of them where the launcher's variables are read."""
    monkeypatch.setenv("MY_API_KEY", ENV_CANARY)
    monkeypatch.setenv("HF_TOKEN", HF_ENV_CANARY)
    monkeypatch.setenv("ACCELERATE_SECRET_TOKEN", ENV_CANARY)


def _every_byte(root) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _assert_no_canary(blob: bytes) -> None:
    for canary in (HUB_CANARY, ENV_CANARY, HF_ENV_CANARY):
        assert canary.encode() not in blob, f"{canary} leaked"


def test_hub_token_echoed_by_the_hub_never_reaches_a_file_or_log(tmp_path, capfd, echoing_hub, canary_env):
    """A hub echoing the token in its errors (retried): no canary in any file or debug log line."""
    (tmp_path / "out").mkdir()  # so the failed set-up's audit log is written
    config = InitConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        push_to_hub=True,
        hub_model_id="me/canary-repo",
        hub_token=HUB_CANARY,
        log_level="debug",
    )
    init = TrainerInit(config, **demo_inputs("mlp", samples=16))
    init.sleep = lambda _seconds: None
    with pytest.raises(PhaseError) as raised:
        init.run()
    assert HUB_CANARY in str(init.error)  # the hub's error did echo the token: there was something to hide
    out, err = capfd.readouterr()
    assert "PhaseRetrying" in out + err and "InitFailed" in out + err  # the debug log did run
    _assert_no_canary((out + err).encode())
    _assert_no_canary(str(raised.value).encode())
    _assert_no_canary(_every_byte(tmp_path))
    records = read(init.audit.path).records
    assert [r.event for r in records].count("PhaseFailed") == 3  # the hub was asked three times
    assert "REDACTED" in records[-1].payload["error"] or "503" in records[-1].payload["error"]
    _assert_no_canary(json.dumps(init.audit.records).encode())


def test_an_exception_echoing_an_environment_secret_is_scrubbed(tmp_path, capfd, canary_env):
    """A model_init failing with an env secret in its message: neither the file nor the log has it."""
    (tmp_path / "out").mkdir()

    def model_init():
        raise PermissionError(f"cannot fetch weights with key={ENV_CANARY} / {HF_ENV_CANARY}")

    config = InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True, log_level="debug")
    init = TrainerInit(config, model_init=model_init)
    with pytest.raises(PhaseError, match="cannot fetch weights"):
        init.run()
    assert ENV_CANARY in str(init.error)
    out, err = capfd.readouterr()
    assert "InitFailed" in out + err
    _assert_no_canary((out + err).encode())
    _assert_no_canary(_every_byte(tmp_path))
    assert "***REDACTED***" in read(init.audit.path).records[-1].payload["error"]


def test_a_successful_set_up_records_no_secret(tmp_path, capfd, canary_env):
    """A set-up to Ready with hub_token set: no canary anywhere; a secret launcher variable is redacted."""
    config = InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True, hub_token=HUB_CANARY, log_level="debug")
    init = TrainerInit(config, **demo_inputs("mlp", samples=16))
    init.run()
    out, err = capfd.readouterr()
    assert "InitReady" in out + err
    _assert_no_canary((out + err).encode())
    _assert_no_canary(_every_byte(tmp_path))
    environment = read(init.audit.path).records[0].payload["environment"]
    assert environment["launcher"]["ACCELERATE_SECRET_TOKEN"] == "***REDACTED***"
    assert "MY_API_KEY" not in json.dumps(environment)
