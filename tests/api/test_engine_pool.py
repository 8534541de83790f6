"""The engine worker processes behind a served API (api.engine_pool): same answers and errors as
the engine in-process, balanced calls, a dead worker replaced, and a server that stops cleanly."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import threading
import time
from contextlib import closing
from typing import Any

import pytest

from api import create_app
from api.engine_pool import POOL_KEY, EncodedJSON, EnginePool, EngineWorkerDied, RemoteTraceback
from api.examples import ENGINE_REBALANCE, SEED_REBALANCE
from api.server import EmbeddedServer
from engine import service
from engine.errors import Cancelled, DataError, InsufficientData, InvalidRequest, SolverError
from engine.governance.registry import PromotionRefused
from engine.pipeline.approval import ApprovalRefused
from engine.pipeline.store import RunNotFound
from tests.api.conftest import TOKEN

BAD_REBALANCE = {"portfolio": {"holdings": [{"symbol": "SPY", "quantity": -1, "price": 1}]}}


def _until(condition, timeout: float = 10.0) -> None:
    """Poll ``condition`` (state in another thread or process: there is no signal to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def pid_after(seconds: float) -> int:
    """Run in a worker: its process id, after a pause long enough for calls to overlap."""
    time.sleep(seconds)
    return os.getpid()


@pytest.fixture(scope="module")
def pool():
    pool = EnginePool(2)
    yield pool
    pool.close()


# --- errors cross the process boundary whole ---------------------------------------------------
@pytest.mark.parametrize("error", [
    InvalidRequest("2 invalid fields", [{"loc": ["portfolio", "cash"], "msg": "must be ≥ 0", "type": "value_error"},
                                        {"loc": ["policy"], "msg": "bad", "type": "value_error"}]),
    DataError("not a number", file="prices.csv", row=7, column="close"),
    InsufficientData("1 return period(s)", [{"loc": ["history"], "msg": "at least 2", "type": "insufficient_data"}]),
    SolverError("solver stopped at its iteration limit"),
    Cancelled("Monte Carlo run cancelled"),
    ApprovalRefused("the run is blocked"),
    RunNotFound("no run 'abc'"),
    PromotionRefused("no skill"),
])
def test_engine_errors_survive_pickling(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert (str(back), back.args, back.to_dict()) == (str(error), error.args, error.to_dict())
    assert vars(back) == vars(error)


# --- the pool ----------------------------------------------------------------------------------
def test_a_worker_answers_what_the_engine_answers_in_process(pool):
    for payload in (SEED_REBALANCE, ENGINE_REBALANCE):
        answer = pool.call(service.rebalance_report, payload)
        assert isinstance(answer, EncodedJSON)
        local = service.rebalance_report(payload).model_dump(mode="json")
        assert answer == json.dumps(local, allow_nan=False)  # the same bytes respond() would write
    assert pool.call(sorted, [3, 1, 2]) == [1, 2, 3]  # not a model: returned as it is


def test_a_workers_error_is_raised_with_its_details_and_traceback(pool):
    with pytest.raises(InvalidRequest) as here:
        service.rebalance_report(BAD_REBALANCE)
    with pytest.raises(InvalidRequest) as there:
        pool.call(service.rebalance_report, BAD_REBALANCE)
    assert there.value.to_dict() == here.value.to_dict()
    assert isinstance(there.value.__cause__, RemoteTraceback)
    assert "parse_rebalance_request" in str(there.value.__cause__)  # the worker's own stack
    with pytest.raises(ZeroDivisionError):  # an unexpected error too: the API logs it, answers 500
        pool.call(divmod, 1, 0)


def test_concurrent_calls_go_to_different_workers(pool):
    pool.call(pid_after, 0.0), pool.call(pid_after, 0.0)  # both workers warm
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(pool.call(pid_after, 0.3))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(pids) == 2 and len(set(pids)) == 2 and os.getpid() not in pids


def test_a_dead_worker_fails_its_call_and_is_replaced():
    pool = EnginePool(1)
    try:
        first = pool.call(pid_after, 0.0)
        outcome: dict[str, Any] = {}

        def long_call() -> None:
            try:
                pool.call(pid_after, 30.0)
            except EngineWorkerDied as exc:
                outcome["error"] = exc

        caller = threading.Thread(target=long_call)
        caller.start()
        _until(lambda: pool._workers[0].pending)  # the call is in the worker's pipe
        os.kill(first, 9)
        caller.join(10)
        assert "exited" in str(outcome["error"])
        second = pool.call(pid_after, 0.0)  # a new worker serves the next call
        assert second != first
        assert pool.call(service.rebalance_report, ENGINE_REBALANCE)
    finally:
        pool.close()


def test_close_ends_the_workers_and_refuses_new_calls():
    pool = EnginePool(2)
    processes = [w.process for w in pool._workers]
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 1.5
    assert not any(p.is_alive() for p in processes)
    with pytest.raises(RuntimeError, match="closed"):
        pool.call(sorted, [])
    pool.close()  # twice is harmless


# --- served ------------------------------------------------------------------------------------
def _post(port: int, path: str, body: Any) -> tuple[int, dict[str, Any], bytes]:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) as conn:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw), raw


def _without_metadata(raw: bytes) -> bytes:
    head, sep, _ = raw.rpartition(b', "metadata": ')
    assert sep, raw[-200:]
    return head


def test_a_server_with_engine_processes_answers_byte_for_byte_like_one_without():
    answers = {}
    for processes in (0, 2):
        with EmbeddedServer(create_app({"API_TOKEN": TOKEN}), processes=processes) as server:
            answers[processes] = [_post(server.port, "/api/rebalance", body)
                                  for body in (SEED_REBALANCE, ENGINE_REBALANCE, BAD_REBALANCE)]
            answers[processes].append(_post(server.port, "/api/risk", {"returns": [0.01, -0.02, 0.005]}))
    for (status0, _, raw0), (status2, body2, raw2) in zip(answers[0], answers[2], strict=True):
        assert status0 == status2 and _without_metadata(raw0) == _without_metadata(raw2)
        assert set(body2["metadata"]) == {"timestamp", "engine_version", "model_version", "request_id"}
    assert [a[0] for a in answers[2]] == [200, 200, 400, 200]


def test_stop_lets_a_rebalance_in_flight_finish_in_a_worker():
    server = EmbeddedServer(create_app({"API_TOKEN": TOKEN}), processes=1).start()
    assert _post(server.port, "/api/rebalance", ENGINE_REBALANCE)[0] == 200  # worker warm
    result: dict[str, Any] = {}

    def client() -> None:
        result["answer"] = _post(server.port, "/api/rebalance", SEED_REBALANCE)

    thread = threading.Thread(target=client)
    thread.start()
    _until(lambda: any(w.pending for w in server.app.extensions[POOL_KEY]._workers))  # in a worker
    started = time.monotonic()
    server.stop(timeout=1.0)
    stopped_after = time.monotonic() - started
    thread.join(10)
    assert result["answer"][0] == 200 and result["answer"][1]["trades"]
    assert stopped_after < 1.0
    assert POOL_KEY not in server.app.extensions  # the pool went with the server


def test_one_app_cannot_be_served_with_engine_processes_twice():
    app = create_app({"API_TOKEN": TOKEN})
    with EmbeddedServer(app, processes=1), pytest.raises(RuntimeError, match="already served"):
        EmbeddedServer(app, processes=1).start()
