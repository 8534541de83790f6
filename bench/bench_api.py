"""REST API: ``POST /api/rebalance`` under 8 concurrent clients, side by side with a bare Flask
hello-world served by the same :class:`api.server.EmbeddedServer` (waitress) in the same run.

What is measured
----------------
* Load (issue 3): 8 client threads, each with one persistent ``http.client`` connection to
  127.0.0.1, send the same request in a closed loop (next request when the answer is read).
  Latency is per request (send to last byte read); throughput is requests / wall time of the
  timed phase. Counts and wall time are bounded. The clients run in a separate (spawned)
  process so they do not share the server's GIL; their CPU time per request is reported, since
  on a small machine it competes with the server for the same cores.
* The request is the engine form an API user sends: 20 bundled symbols (so risk before/after
  and the Monte Carlo summary are computed from the bundled history), every option left at
  its default (Monte Carlo: bootstrap, 10,000 paths, one year).
* Hello-world gets the same bytes (same body and headers) and ignores them, so the ratio is
  the cost of our app and engine over the bare server and transport.
* Where the time goes: the same request in-process, single-threaded, split into its parts,
  and the API layer alone (the engine's answer precomputed), so engine and API are apart.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench.harness import Row, median_time

CLIENTS = 8
PATH = "/api/rebalance"

#: symbol, asset class, quantity, price, target weight. SPY, AAPL, META and PFE have drifted out
#: of the default 2 % band, so the request trades (the other 16 hold).
HOLDINGS: tuple[tuple[str, str, int, float, float], ...] = (
    ("SPY", "etf", 200, 602.55, 0.20), ("MTUM", "etf", 208, 143.73, 0.05),
    ("QUAL", "etf", 276, 111.88, 0.05), ("USMV", "etf", 369, 71.13, 0.05),
    ("VLUE", "etf", 301, 88.47, 0.05), ("AAPL", "stock", 135, 237.33, 0.04),
    ("AMZN", "stock", 84, 207.89, 0.04), ("GOOG", "stock", 102, 170.49, 0.04),
    ("META", "stock", 12, 574.32, 0.04), ("JPM", "stock", 92, 249.72, 0.04),
    ("BAC", "stock", 417, 47.51, 0.04), ("XOM", "stock", 173, 117.96, 0.04),
    ("WMT", "stock", 196, 92.5, 0.04), ("PFE", "stock", 300, 26.21, 0.04),
    ("GE", "stock", 92, 182.16, 0.04), ("T", "stock", 761, 23.16, 0.04),
    ("MA", "stock", 41, 532.94, 0.04), ("MSFT", "stock", 86, 233.43, 0.04),
    ("JNJ", "stock", 107, 174.09, 0.04), ("KO", "stock", 308, 62.61, 0.04),
)


def rebalance_payload(mc_paths: int | None = None) -> dict[str, Any]:
    """The benchmarked ``POST /api/rebalance`` body: engine form, 20 bundled symbols, defaults.

    ``mc_paths`` adds ``{"monte_carlo": {"paths": mc_paths}}`` (the what-if case only).
    """
    holdings = [{"symbol": s, "asset_class": c, "quantity": q, "price": p, "target_weight": w}
                for s, c, q, p, w in HOLDINGS]
    payload: dict[str, Any] = {"portfolio": {"name": "Bench 20", "cash": 5000.0, "holdings": holdings}}
    if mc_paths is not None:
        payload["monte_carlo"] = {"paths": mc_paths}
    return payload


def hello_app() -> Any:
    """The canonical Flask hello-world (POST, so it receives the same bytes as the API)."""
    from flask import Flask

    app = Flask("hello")

    @app.post(PATH)
    def hello() -> str:
        return "Hello, World!"

    return app


# --- client side (runs in the spawned child process) -------------------------------------------
def _client(port: int, body: bytes, headers: dict[str, str], warmup: int, count: int, start: threading.Barrier,
            stop_at: list[float], out: dict[str, Any]) -> None:
    """One client: warm up its persistent connection, wait for the start, then loop."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    first = b""
    reconnects = 0
    try:
        for _ in range(warmup):
            conn.request("POST", PATH, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            first = first or data
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
        start.wait()
        for _ in range(count):
            if time.perf_counter() > stop_at[0]:
                break
            reconnects += conn.sock is None  # the server closed the keep-alive connection
            t0 = time.perf_counter()
            conn.request("POST", PATH, body, headers)
            resp = conn.getresponse()
            resp.read()
            latencies.append(time.perf_counter() - t0)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
    except BaseException as exc:  # handed to the parent thread, which re-raises it
        start.abort()
        out["error"] = repr(exc)
    finally:
        conn.close()
    out.update(latencies=latencies, statuses=statuses, first=first, reconnects=reconnects)


def drive(port: int, body: bytes, headers: dict[str, str], *, clients: int, warmup: int, per_client: int,
          max_seconds: float) -> dict[str, Any]:
    """Run ``clients`` closed-loop clients against ``127.0.0.1:port``; latencies and client CPU."""
    start = threading.Barrier(clients + 1)
    stop_at = [float("inf")]
    outs: list[dict[str, Any]] = [{} for _ in range(clients)]
    threads = [threading.Thread(target=_client, args=(port, body, headers, warmup, per_client, start, stop_at, o))
               for o in outs]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: it is reported below
        start.wait()
    stop_at[0] = time.perf_counter() + max_seconds
    t0, cpu0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    errors = [o["error"] for o in outs if "error" in o]
    if errors:
        raise RuntimeError(f"client failed: {errors[0]}")
    statuses: dict[int, int] = {}
    for o in outs:
        for k, v in o["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {"latencies": [x for o in outs for x in o["latencies"]], "wall_s": wall, "client_cpu_s": cpu,
            "statuses": statuses, "first": outs[0]["first"], "reconnects": sum(o["reconnects"] for o in outs)}


# --- server side -------------------------------------------------------------------------------
def _load(pool: ProcessPoolExecutor, app: Any, body: bytes, token: str, budget: dict[str, Any]) -> dict[str, Any]:
    """Serve ``app`` on a fresh EmbeddedServer and drive it from the client process."""
    import numpy as np

    from api.server import EmbeddedServer

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    # 8 clients > 4 worker threads: waitress warns "Task queue depth is N" on every queued
    # request. Expected here (queueing is part of the latency measured), so not printed.
    queue_log = logging.getLogger("waitress.queue")
    level = queue_log.level
    queue_log.setLevel(logging.ERROR)
    try:
        with EmbeddedServer(app, token=token) as server:
            res = pool.submit(drive, server.port, body, headers, clients=CLIENTS, **budget).result()
    finally:
        queue_log.setLevel(level)
    bad = {k: v for k, v in res["statuses"].items() if k != 200}
    if bad:
        raise RuntimeError(f"non-200 answers {bad}; first body: {res['first'][:300]!r}")
    lat = np.asarray(res["latencies"])
    p50, p99 = np.percentile(lat, [50, 99])
    n = lat.size
    return {"p50": float(p50), "p99": float(p99), "n": n, "rps": n / res["wall_s"], "wall_s": res["wall_s"],
            "client_cpu_per_req_s": res["client_cpu_s"] / n, "reconnects": res["reconnects"],
            "first": res["first"], "threads": server.threads}


def _check_answer(first: bytes, paths: int) -> None:
    """The benchmarked answer really carries risk and a Monte Carlo summary of ``paths`` paths."""
    body = json.loads(first)
    if body.get("risk") is None or (body.get("stress") or {}).get("paths") != paths:
        raise RuntimeError(f"expected risk and a {paths}-path stress summary; got warnings {body.get('warnings')}")


def _load_rows(label: str, m: dict[str, Any], hello: dict[str, Any] | None) -> list[Row]:
    extra = {k: v for k, v in m.items() if k != "first"}
    n_note = f"{m['n']} requests, {m['wall_s']:.1f} s"
    if hello is None:
        return [Row("api", f"{label}: p50 latency", m["p50"], m["n"], note=n_note, extra=extra),
                Row("api", f"{label}: p99 latency", m["p99"], m["n"]),
                Row("api", f"{label}: throughput", 0.0, m["n"], note=f"{m['rps']:,.0f} req/s ({n_note})")]
    return [Row("api", f"{label}: p50 latency", m["p50"], m["n"], baseline="hello-world p50",
                ratio=hello["p50"] / m["p50"], note=n_note, extra=extra),
            Row("api", f"{label}: p99 latency", m["p99"], m["n"], baseline="hello-world p99",
                ratio=hello["p99"] / m["p99"], target="p99 ≤ 50 ms", met=m["p99"] <= 0.050),
            Row("api", f"{label}: throughput", 0.0, m["n"], baseline=f"hello-world {hello['rps']:,.0f} req/s",
                ratio=m["rps"] / hello["rps"],
                note=f"{m['rps']:,.1f} req/s = {m['rps'] / hello['rps']:.2%} of hello-world ({n_note})")]


def _client_row(runs: dict[str, dict[str, Any]]) -> Row:
    """Client CPU per request (hello-world, where it matters most) and its share of the wall time."""
    h = runs["hello"]
    share = h["client_cpu_per_req_s"] * h["rps"]
    detail = "; ".join(f"{k} {v['client_cpu_per_req_s'] * 1e3:.2f} ms" for k, v in runs.items())
    reconnects = sum(v["reconnects"] for v in runs.values())
    return Row("api", f"client overhead (own process, {CLIENTS} threads, http.client keep-alive), CPU per request",
               0.0, h["n"], note=f"{detail}; {share:.2f} of {os.cpu_count()} cores busy in the client during hello-world; "
                                 f"{reconnects} reconnects",
               extra={"client_cpu_per_req_s": {k: v["client_cpu_per_req_s"] for k, v in runs.items()},
                      "client_cores_busy_hello": share, "reconnects": reconnects})


def run_load(quick: bool) -> list[Row]:
    """Hello-world, then the API with defaults, then the API with 1,000 Monte Carlo paths."""
    import multiprocessing
    import secrets

    from api import create_app

    token = secrets.token_urlsafe(16)
    body = json.dumps(rebalance_payload()).encode()
    small = json.dumps(rebalance_payload(mc_paths=1_000)).encode()
    hello_budget = {"warmup": 3, "per_client": 60 if quick else 400, "max_seconds": 3.0 if quick else 30.0}
    api_budget = {"warmup": 1, "per_client": 3 if quick else 30, "max_seconds": 4.0 if quick else 60.0}
    runs: dict[str, dict[str, Any]] = {}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(time.sleep, 0).result()  # the child's start-up is not part of any timing
        runs["hello"] = _load(pool, hello_app(), body, token, hello_budget)
        app = create_app({"API_TOKEN": token})
        runs["api"] = _load(pool, app, body, token, api_budget)
        runs["api 1k"] = _load(pool, app, small, token, api_budget)
    _check_answer(runs["api"]["first"], 10_000)
    _check_answer(runs["api 1k"]["first"], 1_000)
    threads = runs["api"]["threads"]
    rows = _load_rows(f"hello-world: bare Flask, same EmbeddedServer (waitress, {threads} threads), "
                      f"{CLIENTS} clients", runs["hello"], None)
    rows += _load_rows(f"POST {PATH}, engine form, 20 bundled symbols, default options "
                       f"(MC bootstrap 10,000×252), {CLIENTS} clients", runs["api"], runs["hello"])
    rows += _load_rows(f"what-if, not the default: same request with monte_carlo.paths = 1,000, "
                       f"{CLIENTS} clients", runs["api 1k"], runs["hello"])
    rows.append(_client_row(runs))
    return rows


# --- where the time goes (in-process, one request at a time) ------------------------------------
def _api_layer_time(payload: dict[str, Any], reps: int) -> float:
    """The Flask app alone: the route's engine call is answered from a precomputed report."""
    from unittest import mock

    from api import create_app
    from engine import service

    report = service.rebalance_report(payload)
    app = create_app({"API_TOKEN": "bench"})
    client = app.test_client()
    headers = {"Authorization": "Bearer bench"}
    with mock.patch.object(service, "rebalance_report", return_value=report):
        t, _ = median_time(lambda: client.post(PATH, json=payload, headers=headers), repeats=reps)
    return t


def _terminal_only(request: Any) -> tuple[float, float]:
    """Probability of loss from the same draws without the fan chart (what the summary needs)."""
    import numpy as np

    from engine.market_data import portfolio_returns
    from engine.stress import current_weights, iter_path_chunks

    s = request.monte_carlo
    frame = portfolio_returns(request.portfolio, history=request.history)
    R = frame.returns.to_numpy(dtype=np.float64)
    w, _ = current_weights(request.portfolio, [str(c) for c in frame.returns.columns])
    horizon = s.horizon if s.horizon is not None else frame.periods_per_year
    initial, terminal = request.portfolio.total_value, np.empty(s.paths)
    for where, growth in iter_path_chunks(R, w, method=s.method, mode=s.mode, paths=s.paths, horizon=horizon,
                                          seed=s.seed, mean_block_length=s.mean_block_length):
        terminal[where] = growth[:, -1] * initial
    return float(np.mean(terminal < initial)), float(np.percentile(terminal, 5))


def run_profile(quick: bool) -> list[Row]:
    """The same default request split into engine parts, plus the API layer alone."""
    from engine import service
    from engine.market_data import portfolio_returns
    from engine.rebalance import rebalance
    from engine.schemas import RiskRequest, StressRequest

    payload, reps = rebalance_payload(), 3 if quick else 15
    req = service.parse_rebalance_request(payload)
    trades = rebalance(req.portfolio, req.policy)
    risk_req = RiskRequest(portfolio=req.portfolio, settings=req.risk, post_trade_weights=trades.post_trade_weights)
    mc_req = StressRequest(portfolio=req.portfolio, monte_carlo=req.monte_carlo)
    mc = service.monte_carlo(mc_req)
    small = req.model_copy(update={"monte_carlo": req.monte_carlo.model_copy(update={"paths": 1_000})})
    loss, _ = _terminal_only(req)
    if abs(loss - mc.probability_of_loss) > 1e-12:
        raise RuntimeError(f"terminal-only draws differ from the engine's: {loss} vs {mc.probability_of_loss}")
    parts = [
        ("engine total: service.rebalance_report (validate, trades, risk, Monte Carlo)",
         lambda: service.rebalance_report(payload)),
        ("  validate and parse the request", lambda: service.parse_rebalance_request(payload)),
        ("  trades: engine.rebalance.rebalance", lambda: rebalance(req.portfolio, req.policy)),
        ("  risk before/after: service.analyse_risk (aligns the 20 histories)",
         lambda: service.analyse_risk(risk_req)),
        ("  Monte Carlo: service.monte_carlo 10,000×252 (aligns again, builds the fan chart)",
         lambda: service.monte_carlo(mc_req)),
        ("    of which: aligning the 20 bundled histories (market_data.portfolio_returns), done in both",
         lambda: portfolio_returns(req.portfolio)),
        ("  what-if: same draws, terminal values only (all the summary uses)", lambda: _terminal_only(req)),
        ("  what-if: terminal values only, 1,000 paths", lambda: _terminal_only(small)),
    ]
    rows = []
    for label, fn in parts:
        t, n = median_time(fn, repeats=reps)
        rows.append(Row("api profile", label, t, n))
    rows.append(Row("api profile", "API layer alone: Flask test client, engine answer precomputed "
                    "(auth, JSON in, envelope, JSON out)", _api_layer_time(payload, reps * 3), reps * 3))
    return rows


def run(quick: bool) -> list[Row]:
    return run_load(quick) + run_profile(quick)
