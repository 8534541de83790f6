"""The API served from worker processes behind one port (api.workers), on real loopback sockets:
the same bytes as one process, connections spread over the workers, a dead worker replaced, and
a stop that answers requests in flight."""

from __future__ import annotations

import functools
import http.client
import json
import os
import signal
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from api import create_app, workers
from api.examples import ENGINE_REBALANCE, SEED_REBALANCE
from api.server import EmbeddedServer
from tests.api.conftest import TOKEN

pytestmark = pytest.mark.skipif(not hasattr(__import__("socket"), "send_fds"), reason="needs socket.send_fds")

BAD_REBALANCE = {"portfolio": {"holdings": [{"symbol": "SPY", "quantity": -1, "price": 1}]}}
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}


def probe_app(marker_dir: str) -> Flask:
    """Built in each worker (so module level): the real app, plus a route naming the worker
    (its pid) and one that holds its request ``hold`` seconds, dropping a marker file first."""
    app = create_app({"API_TOKEN": TOKEN})

    def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    def slow(hold: str) -> dict[str, bool]:
        Path(marker_dir, f"entered-{os.getpid()}").touch()
        time.sleep(float(hold))
        return {"done": True}

    app.add_url_rule("/api/test-pid", "test_pid", pid)
    app.add_url_rule("/api/test-slow/<hold>", "test_slow", slow)
    return app


def _until(condition, timeout: float = 20.0) -> None:
    """Poll state owned by other processes (there is no signal to wait on from here)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=HEADERS)
    response = conn.getresponse()
    return response.status, response.read()


def _pid(conn: http.client.HTTPConnection) -> int:
    status, raw = _request(conn, "GET", "/api/test-pid")
    assert status == 200
    return json.loads(raw)["pid"]


@pytest.fixture
def served(tmp_path):
    server = EmbeddedServer(factory=functools.partial(probe_app, str(tmp_path)), token=TOKEN, processes=2).start()
    server.wait_ready(60)
    yield server
    server.stop()


def _without_metadata(raw: bytes) -> bytes:
    """The body up to its ``metadata`` (the last key: timestamp and request id differ by nature)."""
    head, sep, _ = raw.rpartition(b', "metadata": ')
    assert sep, raw[-200:]
    return head


def test_workers_answer_byte_for_byte_like_one_process(served):
    with EmbeddedServer(create_app({"API_TOKEN": TOKEN})) as single:
        for method, path, body in [("POST", "/api/rebalance", SEED_REBALANCE), ("POST", "/api/rebalance", ENGINE_REBALANCE),
                                   ("POST", "/api/rebalance", BAD_REBALANCE),
                                   ("POST", "/api/risk", {"returns": [0.01, -0.02, 0.005]}),
                                   ("GET", "/api/scenarios", None), ("GET", "/api/no-such-route", None)]:
            answers = []
            for port in (single.port, served.port):
                with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=60)) as conn:
                    status, raw = _request(conn, method, path, body)
                    assert set(json.loads(raw)["metadata"]) == {"timestamp", "engine_version", "model_version",
                                                                "request_id"}
                    answers.append((status, _without_metadata(raw)))
            assert answers[0] == answers[1], path
    assert served.token == TOKEN and served.processes == 2 and served.threads == 1


def test_connections_go_to_the_worker_with_the_fewest_and_stay_there(served):
    conns = [http.client.HTTPConnection("127.0.0.1", served.port, timeout=30) for _ in range(4)]
    try:
        pids = [_pid(c) for c in conns]
        assert len(set(pids)) == 2 and sorted(pids.count(p) for p in set(pids)) == [2, 2]
        assert [_pid(c) for c in conns] == pids  # keep-alive: each connection stays with its worker
        busy_worker = pids[0]
        for i in [i for i, p in enumerate(pids) if p == busy_worker]:
            conns[i].close()  # that worker now has none open...
        _until(lambda: sorted(w.connections for w in served._group.workers) == [0, 2])
        fresh = [http.client.HTTPConnection("127.0.0.1", served.port, timeout=30) for _ in range(2)]
        conns += fresh
        assert [_pid(c) for c in fresh] == [busy_worker, busy_worker]  # ...so it gets the next two
    finally:
        for c in conns:
            c.close()


def test_a_dead_worker_is_replaced_and_new_connections_are_served(served):
    with closing(http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)) as conn:
        victim = _pid(conn)
    dead = next(w for w in served._group.workers if w.process.pid == victim)
    os.kill(victim, signal.SIGKILL)
    _until(lambda: dead not in served._group.workers)
    served.wait_ready(60)
    pids = set()
    for _ in range(4):
        with closing(http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)) as conn:
            pids.add(_pid(conn))
            assert _request(conn, "POST", "/api/rebalance", SEED_REBALANCE)[0] == 200
    assert victim not in pids and len(pids) == 2


def test_stop_answers_a_request_in_flight_and_then_refuses(served, tmp_path):
    result: dict[str, Any] = {}

    def client() -> None:
        with closing(http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)) as conn:
            result["answer"] = _request(conn, "GET", "/api/test-slow/0.3")

    thread = threading.Thread(target=client)
    thread.start()
    _until(lambda: any(tmp_path.glob("entered-*")))  # being served in a worker now
    processes = [w.process for w in served._group.workers]
    started = time.monotonic()
    served.stop(timeout=1.0)
    stopped_after = time.monotonic() - started
    thread.join(10)
    status, raw = result["answer"]
    assert status == 200 and json.loads(raw) == {"done": True}  # answered in full, not dropped
    assert stopped_after < 1.0 and not served.running
    assert not any(p.is_alive() for p in processes)
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", served.port, timeout=5).connect()


def test_stop_is_bounded_when_a_request_outlives_the_timeout(tmp_path):
    server = EmbeddedServer(factory=functools.partial(probe_app, str(tmp_path)), token=TOKEN, processes=1).start()
    server.wait_ready(60)
    processes = [w.process for w in server._group.workers]
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
                _request(conn, "GET", "/api/test-slow/30")
        except (OSError, http.client.HTTPException) as exc:  # cut off: expected
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    _until(lambda: any(tmp_path.glob("entered-*")))
    started = time.monotonic()
    server.stop(timeout=0.3)
    stopped_after = time.monotonic() - started
    thread.join(10)
    assert stopped_after < 1.0 and len(errors) == 1
    assert not any(p.is_alive() for p in processes)


def test_an_app_object_cannot_be_sent_to_workers():
    with pytest.raises(ValueError, match="factory="):
        EmbeddedServer(create_app({"API_TOKEN": TOKEN}), processes=2)
    with pytest.raises(ValueError, match="0 or more"):
        EmbeddedServer(processes=-1)


def broken_app() -> Flask:
    raise RuntimeError("this app cannot be built")


def test_a_worker_that_cannot_build_the_app_fails_the_start_without_respawning():
    server = EmbeddedServer(factory=broken_app, token=TOKEN, processes=1).start()
    try:
        with pytest.raises(RuntimeError, match="failed to start"):
            server.wait_ready(60)
        assert len(server._group.workers) == 1 and not server._group.workers[0].process.is_alive()
    finally:
        server.stop()


def half_broken_app(marker_dir: str) -> Flask:
    """The first worker to build it fails; the others build :func:`probe_app`."""
    try:
        os.close(os.open(Path(marker_dir, "first"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return probe_app(marker_dir)
    raise RuntimeError("this worker cannot build the app")


def test_the_living_workers_serve_when_one_cannot_start(tmp_path):
    server = EmbeddedServer(factory=functools.partial(half_broken_app, str(tmp_path)), token=TOKEN,
                            processes=2).start()
    try:
        with pytest.raises(RuntimeError, match="failed to start"):
            server.wait_ready(60)
        _until(lambda: sum(w.ready.is_set() for w in server._group.workers) == 1)
        pids = set()
        for _ in range(4):
            with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
                pids.add(_pid(conn))
        assert len(pids) == 1
    finally:
        server.stop()


def slow_app(seconds: float) -> Flask:
    time.sleep(seconds)
    return create_app({"API_TOKEN": TOKEN})


def test_a_connection_made_while_the_workers_start_waits_for_them():
    with EmbeddedServer(factory=functools.partial(slow_app, 1.0), token=TOKEN, processes=1) as server:
        assert not server._group.workers[0].ready.is_set()
        with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)) as conn:
            status, raw = _request(conn, "POST", "/api/rebalance", SEED_REBALANCE)
        assert status == 200 and json.loads(raw)["trades"]


def test_without_send_fds_the_server_serves_from_one_process(monkeypatch):
    monkeypatch.setattr(workers, "SUPPORTED", False)
    server = EmbeddedServer(token=TOKEN, processes=2)
    assert server.processes == 0 and server.threads == 4
    with server, closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
        assert _request(conn, "POST", "/api/rebalance", SEED_REBALANCE)[0] == 200


def test_the_token_given_to_the_server_is_the_one_its_workers_require():
    factory = functools.partial(create_app, {"API_TOKEN": "the-factory-s-own"})
    with EmbeddedServer(factory=factory, token="given", processes=1) as server:
        server.wait_ready(60)
        assert server.token == "given"
        with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)) as conn:
            conn.request("GET", "/api/scenarios", headers={"Authorization": "Bearer given"})
            response = conn.getresponse()
            assert response.status == 200 and response.read()
            conn.request("GET", "/api/scenarios", headers={"Authorization": "Bearer the-factory-s-own"})
            response = conn.getresponse()
            assert response.status == 401 and response.read()
