"""The API benchmark's request stays valid and its load driver stays working (no timing here)."""

from __future__ import annotations

import socket

import pytest

from api.server import EmbeddedServer
from bench import bench_api
from engine import service
from engine.schemas import MonteCarloSettings, RebalancePolicy, RiskSettings
from tests.api.conftest import AUTH, post_json


def test_payload_is_the_engine_form_with_20_bundled_symbols_and_default_options():
    payload = bench_api.rebalance_payload()
    assert set(payload) == {"portfolio"}  # policy, risk and Monte Carlo left at their defaults
    request = service.parse_rebalance_request(payload)
    assert len(request.portfolio.holdings) == 20
    assert request.policy == RebalancePolicy()
    assert request.risk == RiskSettings()
    assert request.monte_carlo == MonteCarloSettings() and request.monte_carlo.paths == 10_000
    daily = {s.symbol for s in service.catalogue() if s.frequency == "daily"}
    assert {h.symbol for h in request.portfolio.holdings} <= daily


def test_variants_are_other_portfolios_on_the_same_symbols_with_the_same_options():
    base = service.parse_rebalance_request(bench_api.rebalance_payload())
    variants = [service.parse_rebalance_request(bench_api.rebalance_payload(variant=v)) for v in range(4)]
    quantities = {tuple(h.quantity for h in r.portfolio.holdings) for r in [base, *variants]}
    assert len(quantities) == 5  # five different portfolios
    for r in variants:
        assert [h.symbol for h in r.portfolio.holdings] == [h.symbol for h in base.portfolio.holdings]
        assert (r.policy, r.risk, r.monte_carlo) == (base.policy, base.risk, base.monte_carlo)
    assert bench_api.rebalance_payload(variant=2) == bench_api.rebalance_payload(variant=2)  # seeded


def test_what_if_payload_changes_only_the_path_count():
    request = service.parse_rebalance_request(bench_api.rebalance_payload(mc_paths=1_000))
    assert request.monte_carlo == MonteCarloSettings(paths=1_000)


def test_api_answers_the_payload_with_trades_risk_and_stress(client):
    response = post_json(client, bench_api.PATH, bench_api.rebalance_payload(mc_paths=1_000))
    assert response.status_code == 200
    body = response.get_json()
    # Four holdings are out of the default 2 % band: the bench measures a request that trades.
    traded = {t["symbol"]: t["action"] for t in body["trades"] if t["action"] != "HOLD"}
    assert traded == {"SPY": "SELL", "AAPL": "SELL", "META": "BUY", "PFE": "BUY"}
    assert body["risk"]["before"]["volatility"] > 0
    bench_api._check_answer(response.data, 1_000)
    with pytest.raises(RuntimeError, match="10000-path"):
        bench_api._check_answer(response.data, 10_000)


def test_hello_world_answers_the_same_request(client):
    hello = bench_api.hello_app().test_client()
    response = hello.post(bench_api.PATH, json=bench_api.rebalance_payload(), headers=AUTH)
    assert (response.status_code, response.data) == (200, b"Hello, World!")


def test_drive_counts_every_request_over_persistent_connections():
    with EmbeddedServer(bench_api.hello_app()) as server:
        res = bench_api.drive(server.port, [b"{}"], {"Content-Type": "application/json"},
                              clients=2, warmup=1, per_client=3, max_seconds=30.0)
    assert len(res["latencies"]) == 6 and all(x > 0 for x in res["latencies"])
    assert res["statuses"] == {200: 8}  # warm-up requests included
    assert res["first"] == b"Hello, World!" and res["reconnects"] == 0


def test_drive_fails_loudly_when_the_server_is_unreachable():
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeError, match="client failed"):
        bench_api.drive(port, [b"{}"], {}, clients=2, warmup=1, per_client=1, max_seconds=5.0)
