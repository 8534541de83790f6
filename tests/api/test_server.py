"""The embedded waitress server and the CLI, on real loopback sockets."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from api import create_app
from api.examples import SEED_REBALANCE
from api.server import EmbeddedServer, default_processes, is_loopback
from tests.api.conftest import AUTH, TOKEN

ROOT = Path(__file__).resolve().parents[2]


def _get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)) as conn:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())


def _slow_app(entered: threading.Event, release: threading.Event, hold: float) -> Flask:
    """The real app plus one route that blocks until released (or ``hold`` seconds pass)."""
    app = create_app({"API_TOKEN": TOKEN})

    def slow() -> dict[str, bool]:
        entered.set()
        released = release.wait(hold)
        return {"released": released}

    app.add_url_rule("/api/test-slow", "test_slow", slow)
    return app


def test_start_serves_on_a_free_loopback_port_and_stop_closes_it() -> None:
    server = EmbeddedServer(token="cli-token")
    assert server.token == "cli-token"
    with server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        status, body = _get(server.port, "/api/health")
        assert status == 200 and body["status"] == "ok"
        assert _get(server.port, "/api/multi-agent-blueprint")[0] == 401
        assert _get(server.port, "/api/multi-agent-blueprint", {"Authorization": "Bearer cli-token"})[0] == 200
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        _get(server.port, "/api/health")
    server.stop()  # a second stop is harmless


def test_stop_lets_a_request_in_flight_finish() -> None:
    entered, release = threading.Event(), threading.Event()
    server = EmbeddedServer(_slow_app(entered, release, hold=0.3)).start()
    result: dict[str, Any] = {}

    def client() -> None:
        result["answer"] = _get(server.port, "/api/test-slow", AUTH)

    thread = threading.Thread(target=client)
    thread.start()
    assert entered.wait(5)  # the request is being served now
    started = time.monotonic()
    server.stop(timeout=1.0)
    stopped_after = time.monotonic() - started
    thread.join(5)
    assert result["answer"] == (200, {"released": False})  # answered in full, not dropped
    assert stopped_after < 1.0  # the contract of stop(timeout=1.0)
    with pytest.raises(ConnectionRefusedError):
        _get(server.port, "/api/health")


def test_stop_is_bounded_when_a_request_outlives_the_timeout() -> None:
    entered, release = threading.Event(), threading.Event()
    server = EmbeddedServer(_slow_app(entered, release, hold=30)).start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            _get(server.port, "/api/test-slow", AUTH)
        except (OSError, http.client.HTTPException) as exc:  # cut off: expected
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    assert entered.wait(5)
    started = time.monotonic()
    server.stop(timeout=0.3)
    stopped_after = time.monotonic() - started
    release.set()
    thread.join(5)
    assert stopped_after < 1.0
    assert len(errors) == 1


def test_new_connections_are_refused_while_draining() -> None:
    entered, release = threading.Event(), threading.Event()
    server = EmbeddedServer(_slow_app(entered, release, hold=5)).start()
    thread = threading.Thread(target=lambda: _get(server.port, "/api/test-slow", AUTH))
    thread.start()
    assert entered.wait(5)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5.0})
    stopper.start()
    refused = False
    deadline = time.monotonic() + 5
    while not refused and time.monotonic() < deadline:
        try:
            _get(server.port, "/api/health", timeout=1)
        except ConnectionRefusedError:
            refused = True
        except (ConnectionResetError, http.client.RemoteDisconnected):
            pass  # queued in the backlog as the listening socket closed: also not served
    release.set()
    stopper.join(5)
    thread.join(5)
    assert refused and not server.running


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_non_loopback_host_is_refused_unless_allowed(host: str) -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        EmbeddedServer(host=host)
    assert EmbeddedServer(host=host, allow_remote=True).host == host  # allowed: constructed, not started


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.5.5.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("no-such-host.invalid")


def test_cli_prints_url_and_token_and_stops_cleanly_on_sigterm() -> None:
    env = {**os.environ, "REBALANCER_API_TOKEN": "env-token"}
    proc = subprocess.Popen([sys.executable, "-m", "api", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        third = proc.stdout.readline()
        assert first.startswith("Smart Portfolio Rebalancer API listening on http://127.0.0.1:"), first
        assert second.strip() == "Token: env-token"
        assert third.strip() == (f"Worker processes: {default_processes()} × 1 request thread" if default_processes()
                                 else "Serving from this process: 4 request threads")
        port = int(first.rsplit(":", 1)[1])
        assert _get(port, "/api/scenarios")[0] == 401
        assert _get(port, "/api/health")[0] == 200
        with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) as conn:  # by a worker
            conn.request("POST", "/api/rebalance", body=json.dumps(SEED_REBALANCE),
                         headers={"Content-Type": "application/json", "Authorization": "Bearer env-token"})
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read())["trades"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--processes", "-1"], "argument --processes: must be 0 or more, not -1"),
    (["--threads", "0"], "argument --threads: must be 1 or more, not 0"),
    (["--processes", "two"], "argument --processes: not a whole number: 'two'"),
])
def test_cli_rejects_bad_counts(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "api", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr


def test_ctrl_c_to_the_process_group_stops_the_cli_cleanly() -> None:
    # A terminal's Ctrl+C reaches every process of the group: the worker processes must leave
    # the shutdown to the server (no KeyboardInterrupt in them, no request cut off).
    proc = subprocess.Popen([sys.executable, "-m", "api", "--port", "0", "--token", "t"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        assert _get(port, "/api/health")[0] == 200
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in out and "KeyboardInterrupt" not in err and "Traceback" not in err


def test_cli_refuses_a_remote_host_without_the_flag() -> None:
    proc = subprocess.run([sys.executable, "-m", "api", "--host", "0.0.0.0", "--port", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "refusing to listen on non-loopback address '0.0.0.0'" in proc.stderr
