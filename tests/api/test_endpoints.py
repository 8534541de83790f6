"""The endpoints answer what the engine computes: the seed example, variants, risk, stress, catalogues."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.examples import SEED_REBALANCE
from engine import service
from tests.api.conftest import AUTH, post_json, without_metadata

METRIC_FIELDS = {"volatility", "expected_annual_return", "cagr", "sharpe", "sortino", "max_drawdown", "var_95",
                 "cvar_95", "tracking_error", "information_ratio", "beta"}


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/json"
    assert response.json["metadata"]["request_id"] == response.headers["X-Request-ID"]
    return response.json


def test_seed_example_verbatim(client: FlaskClient) -> None:
    """The seed's unallocated weight is cash: 76 % uninvested now, an 80 % reserve in the targets."""
    body = _ok(post_json(client, "/api/rebalance", SEED_REBALANCE))
    (etf,) = body["trades"]
    assert etf["symbol"] == "ETF" and etf["target_weight"] == etf["effective_target_weight"] == pytest.approx(0.2)
    # current_weight is drifted by market_return and renormalised with the cash: 0.24·1.022 / (0.24·1.022 + 0.76)
    assert etf["current_weight"] == pytest.approx(0.24528 / 1.00528, abs=1e-12)
    assert etf["current_value"] == pytest.approx(100_000 * 0.24528 / 1.00528)  # 24,399.17
    assert etf["drift"] == pytest.approx(0.24528 / 1.00528 - 0.2, abs=1e-12)
    # 4.4 points over target, outside the ±2-point band: sell 4,399.17 / 95 = 46.3 → 46 whole units
    assert (etf["action"], etf["units"], etf["trade_value"]) == ("SELL", 46, 46 * 95)
    assert etf["cost"] == pytest.approx(4.37)  # 10 bps of 4,370
    assert etf["post_trade_value"] == pytest.approx(100_000 * 0.24528 / 1.00528 - 4_370)
    assert etf["post_trade_weight"] == pytest.approx((100_000 * 0.24528 / 1.00528 - 4_370) / 99_995.63)
    totals = body["totals"]
    assert totals["post_trade_value"] == pytest.approx(100_000 - 4.37)
    assert totals["total_cost"] == pytest.approx(4.37)
    assert totals["residual_cash"] == pytest.approx(100_000 * 0.76 / 1.00528 + 4_370 - 4.37)
    assert totals["turnover"] == 0.0  # one-way turnover counts buys; selling into cash buys nothing
    assert totals["turnover_limit"] == 0.2 and totals["turnover_limit_bound"] is False
    assert sum(body["post_trade_weights"].values()) == pytest.approx(1.0)
    assert set(body["risk"]["before"]) == METRIC_FIELDS == set(body["risk"]["after"])
    assert body["risk"]["window"]["n_periods"] == 5  # the five historical_returns
    stress = body["stress"]
    assert 0.0 <= stress["probability_of_loss"] <= 1.0
    assert stress["downside_terminal_value"] > 0
    assert (stress["method"], stress["paths"], stress["horizon"], stress["seed"]) == ("bootstrap", 10_000, 252, 42)


def test_seed_variant_with_exact_hand_computed_trade(client: FlaskClient) -> None:
    """No market move, price 100: the ETF is 24,000 of 100,000 and sells exactly 40 units to reach 20 %."""
    payload = copy.deepcopy(SEED_REBALANCE)
    payload["assets"][0].update(market_return=0.0, price=100)
    body = _ok(post_json(client, "/api/rebalance", payload))
    (etf,) = body["trades"]
    assert etf["action"] == "SELL"
    assert etf["current_value"] == pytest.approx(24_000)
    assert etf["units"] == 40 and etf["trade_value"] == pytest.approx(4_000)
    assert etf["cost"] == pytest.approx(4.0)  # 10 bps of 4,000
    assert etf["post_trade_value"] == pytest.approx(20_000)
    totals = body["totals"]
    assert (totals["portfolio_value"], totals["cash_before"]) == (pytest.approx(100_000), pytest.approx(76_000))
    assert totals["sell_value"] == pytest.approx(4_000) and totals["buy_value"] == 0.0
    assert totals["post_trade_value"] == pytest.approx(99_996)
    assert totals["turnover"] == 0.0
    assert body["post_trade_weights"] == {"ETF": pytest.approx(20_000 / 99_996), "CASH": pytest.approx(79_996 / 99_996)}


def test_seed_variant_inside_the_band_holds(client: FlaskClient) -> None:
    payload = copy.deepcopy(SEED_REBALANCE)
    payload["assets"][0].update(current_weight=0.21, market_return=0.0)
    body = _ok(post_json(client, "/api/rebalance", payload))
    for line in body["trades"]:  # ETF 21 % vs 20 %, cash 79 % vs 80 %: both inside ±2 points
        assert (line["action"], line["units"], line["trade_value"], line["cost"]) == ("HOLD", 0, 0, 0)
    assert body["post_trade_weights"] == {"ETF": pytest.approx(0.21), "CASH": pytest.approx(0.79)}
    assert body["totals"]["n_trades"] == 0


def test_seed_variant_with_two_assets_and_a_turnover_cap(client: FlaskClient) -> None:
    """A cap of 1 % one-way turnover binds: buys stop at 1,000 of 100,000 and the result says so."""
    payload = {"portfolio_value": 100_000, "drift_threshold": 0.02, "turnover_limit": 0.01, "transaction_cost_bps": 0,
               "assets": [
                   {"asset": "AAA", "target_weight": 0.5, "current_weight": 0.6, "price": 10, "asset_class": "stock"},
                   {"asset": "BBB", "target_weight": 0.5, "current_weight": 0.4, "price": 10, "asset_class": "stock"}]}
    body = _ok(post_json(client, "/api/rebalance", payload))
    totals = body["totals"]
    assert totals["turnover"] <= 0.01 + 1e-12
    assert totals["turnover_limit_bound"] is True and "turnover_limit" in totals["limits_bound"]
    actions = {line["symbol"]: line["action"] for line in body["trades"]}
    assert actions["AAA"] == "SELL" and actions["BBB"] == "BUY"


def test_rebalance_answer_is_the_engine_report_unchanged(client: FlaskClient) -> None:
    """A thin face: the body is exactly the service's report plus metadata (same seed, same numbers)."""
    body = _ok(post_json(client, "/api/rebalance", SEED_REBALANCE))
    assert without_metadata(body) == service.rebalance_report(SEED_REBALANCE).model_dump(mode="json")


def test_risk_of_a_raw_series_matches_metrics_md_by_hand(client: FlaskClient) -> None:
    """r = [1 %, -2 %, 3 %, 0 %], P = 252: mean 0.005, sample std 0.0208167 (var 4.3333e-4)."""
    body = _ok(post_json(client, "/api/risk", {"returns": [0.01, -0.02, 0.03, 0.0]}))
    assert set(without_metadata(body)) == METRIC_FIELDS
    assert body["volatility"] == pytest.approx(0.3304542328371662)  # 0.0208167 · √252
    assert body["expected_annual_return"] == pytest.approx(1.26)  # 0.005 · 252
    assert body["cagr"] == pytest.approx(2.374694575101271)  # 1.019494 ** (252 / 4) - 1
    assert body["sharpe"] == pytest.approx(3.812933455813454)  # 0.005 / 0.0208167 · √252
    assert body["sortino"] == pytest.approx(7.93725393319377)  # 0.005 / √(0.02² / 4) · √252
    assert body["max_drawdown"] == pytest.approx(0.02)  # 1.01 → 0.9898
    assert body["var_95"] == pytest.approx(0.017)  # -(-0.02 + 0.15 · 0.02)
    assert body["cvar_95"] == pytest.approx(0.02)  # k = 0.2: the worst return
    assert body["tracking_error"] is None and body["information_ratio"] is None and body["beta"] is None


def test_risk_of_a_raw_series_with_benchmark_and_risk_free_rate(client: FlaskClient) -> None:
    payload = {"returns": [0.01, -0.02, 0.03, 0.0], "benchmark_returns": [0.005, -0.01, 0.02, 0.001],
               "risk_free_rate": 0.05, "periods_per_year": 252}
    body = _ok(post_json(client, "/api/risk", payload))
    assert body["tracking_error"] == pytest.approx(0.1365576801208925)  # std([.005,-.01,.01,-.001]) · √252
    assert body["information_ratio"] == pytest.approx(1.8453740556877358)
    assert body["beta"] == pytest.approx(7.7 / 4.62)  # cov 7.7e-4/3 over var 4.62e-4/3
    assert body["sharpe"] == pytest.approx(3.6652734085199294)  # excess over (1.05)^(1/252) - 1
    assert body["sortino"] == pytest.approx(7.556367140727765)


def test_risk_of_one_return_is_null_not_nan(client: FlaskClient) -> None:
    body = _ok(post_json(client, "/api/risk", {"returns": [0.01]}))
    assert body["volatility"] is None and body["sharpe"] is None


def test_risk_holdings_form_is_the_engine_report(client: FlaskClient) -> None:
    payload = {"portfolio": {"holdings": [
        {"symbol": "AAA", "asset_class": "stock", "quantity": 10, "price": 10.0, "target_weight": 0.5},
        {"symbol": "BBB", "asset_class": "stock", "quantity": 10, "price": 10.0, "target_weight": 0.5}]},
        "history": {"returns": {"AAA": [0.01, -0.02, 0.03, 0.0], "BBB": [0.0, 0.01, -0.01, 0.02]}}}
    body = _ok(post_json(client, "/api/risk", payload))
    assert without_metadata(body) == service.analyse_risk(payload).model_dump(mode="json")
    # Equal weights held constant: the portfolio series is the average of the two.
    assert body["before"]["metrics"]["expected_annual_return"] == pytest.approx((0.005 + 0.005) / 2 * 252)


def _stress_payload(**monte_carlo: Any) -> dict[str, Any]:
    return {"portfolio": {"holdings": [
        {"symbol": "AAA", "asset_class": "stock", "quantity": 10, "price": 10.0, "target_weight": 1.0}]},
        "history": {"returns": {"AAA": [0.01, -0.02, 0.03, 0.0, 0.005, -0.01]}},
        "monte_carlo": {"method": "bootstrap", "paths": 500, "horizon": 20, "seed": 7, **monte_carlo},
        "scenarios": None}


def test_stress_monte_carlo_is_seeded_and_echoes_its_settings(client: FlaskClient) -> None:
    first = _ok(post_json(client, "/api/stress", _stress_payload()))
    again = _ok(post_json(client, "/api/stress", _stress_payload()))
    other = _ok(post_json(client, "/api/stress", _stress_payload(seed=8)))
    mc = first["monte_carlo"]
    assert (mc["method"], mc["paths"], mc["horizon"], mc["seed"]) == ("bootstrap", 500, 20, 7)
    assert mc["initial_value"] == pytest.approx(100.0)
    assert 0.0 <= mc["probability_of_loss"] <= 1.0
    assert without_metadata(first) == without_metadata(again)
    assert other["monte_carlo"]["terminal_percentiles"] != mc["terminal_percentiles"]
    assert first["scenarios"] == []


def test_scenarios_listed_can_be_replayed(client: FlaskClient) -> None:
    listed = _ok(client.get("/api/scenarios", headers=AUTH))["scenarios"]
    assert listed and {"id", "name", "start", "end", "description", "reference"} <= set(listed[0])
    assert listed == [s.model_dump(mode="json") for s in service.list_scenarios()]
    payload = {"portfolio": {"holdings": [
        {"symbol": "SPY", "asset_class": "etf", "quantity": 10, "price": 400.0, "target_weight": 1.0}]},
        "monte_carlo": None, "scenarios": [listed[0]["id"]]}
    body = _ok(post_json(client, "/api/stress", payload))
    assert body["monte_carlo"] is None
    assert [s["id"] for s in body["scenarios"]] == [listed[0]["id"]]


def test_catalogues_are_the_engine_lists(client: FlaskClient) -> None:
    symbols = _ok(client.get("/api/market-data/symbols", headers=AUTH))["symbols"]
    assert symbols == [s.model_dump(mode="json") for s in service.catalogue()]
    assert {"SPY", "AGG", "BTC", "GOLD"} <= {s["symbol"] for s in symbols}
    portfolios = _ok(client.get("/api/sample-portfolios", headers=AUTH))["portfolios"]
    assert portfolios == [p.model_dump(mode="json") for p in service.sample_portfolios()]


def test_multi_agent_blueprint_is_generated_from_the_declared_stages(client: FlaskClient) -> None:
    from engine.governance.controls import CONTROLS
    from engine.pipeline.definition import STAGES

    body = _ok(client.get("/api/multi-agent-blueprint", headers=AUTH))
    assert body["flow"] == [s.name for s in STAGES]
    assert [(s["name"], s["role"], s["inputs"], s["outputs"]) for s in body["stages"]] == [
        (s.name, s.role, list(s.inputs), list(s.outputs)) for s in STAGES]
    controls = body["governance"]["pre_trade_controls"]
    assert [c["name"] for c in controls] == [c.name for c in CONTROLS]
    assert without_metadata(body) == service.multi_agent_blueprint()
