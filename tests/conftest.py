"""Shared fixtures: a clean accelerate state and working directory for every test."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run each test in its own directory, and leave accelerate's singletons as found."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    for name in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING", "FLASH_ATTENTION_DETERMINISTIC"):
        monkeypatch.delenv(name, raising=False)  # restored after the test, whatever a set-up sets
    saved = [dict(s) for s in (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state)]
    logger_level = logging.getLogger("trainer_fsm").level
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(deterministic)
    for live, before in zip(
        (PartialState._shared_state, AcceleratorState._shared_state, GradientState._shared_state), saved, strict=True
    ):
        live.clear()
        live.update(before)
    logging.getLogger("trainer_fsm").setLevel(logger_level)


@pytest.fixture
def cpu_config(tmp_path):
    """A small CPU config writing into the test's own directory."""
    from fsm import InitConfig

    return InitConfig(output_dir=str(tmp_path / "out"), use_cpu=True, per_device_train_batch_size=16)


@pytest.fixture
def mlp_inputs():
    """A tiny MLP and a synthetic regression dataset."""
    from fsm.demo import demo_inputs

    return demo_inputs("mlp", samples=128)


@pytest.fixture
def lm_inputs():
    """A tiny transformer LM (forward takes labels) and synthetic token data."""
    from fsm.demo import demo_inputs

    return demo_inputs("lm", samples=64)


class _HubState:
    """What the fake hub was asked, and how it should misbehave."""

    def __init__(self) -> None:
        self.fail_next = 0
        self.fail_status = 503
        self.requests: list[dict] = []


@pytest.fixture
def hub_server(monkeypatch):
    """A real HTTP server on 127.0.0.1 that answers huggingface_hub's repo creation.

    `server.state.fail_next = N` makes the next N requests answer `fail_status`;
    `server.stop()` closes it (connections are then refused) and `server.start()`
    opens it again on the same port. HF_ENDPOINT points the real client at it.
    """
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = _HubState()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = json.loads(body or b"{}")
            state.requests.append(
                {"path": self.path, "json": payload, "authorization": self.headers.get("Authorization")}
            )
            if state.fail_next > 0:
                state.fail_next -= 1
                self._reply(state.fail_status, {"error": "temporarily unavailable"})
                return
            if self.path != "/api/repos/create":
                self._reply(404, {"error": "not found"})
                return
            namespace = payload.get("organization") or "tester"
            self._reply(200, {"url": f"{server.url}/{namespace}/{payload['name']}"})

        def _reply(self, status, data):
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    class Server:
        def __init__(self) -> None:
            self.state = state
            self.port = 0
            self._httpd = None
            self.start()
            self.url = f"http://127.0.0.1:{self.port}"

        def start(self) -> None:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            self.port = self._httpd.server_address[1]
            threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

        def stop(self) -> None:
            if self._httpd is not None:
                self._httpd.shutdown()
                self._httpd.server_close()
                self._httpd = None

    server = Server()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.stop()
