"""Forecast, optimise, backtest and the model list over HTTP: the engine's answers, with skill beside them."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from api import examples
from engine import service
from tests.api.conftest import AUTH, post_json, without_metadata

SAMPLE = "P3_PRE_COVID_DIVERSIFIED"  # nine holdings on monthly data, as of 2019-12-31


@pytest.fixture
def portfolio() -> dict[str, Any]:
    return service.sample_portfolio(SAMPLE).model_dump(mode="json")


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.json
    assert response.mimetype == "application/json"
    assert response.json["metadata"]["request_id"] == response.headers["X-Request-ID"]
    return response.json


def test_forecast_of_a_bundled_sample_shows_its_skill_and_verdict(client: FlaskClient,
                                                                   portfolio: dict[str, Any]) -> None:
    body = _ok(post_json(client, "/api/forecast", {"portfolio": portfolio}))
    assert without_metadata(body) == service.forecast({"portfolio": portfolio}).model_dump(mode="json")
    forecast = body["forecast"]
    assert [a["symbol"] for a in forecast["assets"]] == [h["symbol"] for h in portfolio["holdings"]]
    assert forecast["as_of"] == "2019-12-31" and forecast["periods_per_year"] == 12
    for asset in forecast["assets"]:
        assert 0.0 <= asset["confidence"] <= 1.0
        assert [s["signal"] for s in asset["signals"]] == ["momentum", "mean_reversion", "ewma"]
        assert asset["expected_return"] == pytest.approx(sum(s["contribution"] for s in asset["signals"]))
    # The walk-forward test on the sample's own monthly history finds no skill, and says so beside it.
    skill = body["skill"]
    assert (skill["window_start"], skill["window_end"], skill["n_dates"], skill["n_forecasts"]) == (
        "2015-01-31", "2019-12-31", 59, 531)
    assert skill["ic_mean"] == pytest.approx(0.01031764680453477)
    assert skill["rmse"] == pytest.approx(0.10021162333686155)
    assert skill["rmse_mean"] == pytest.approx(0.09262494125893778)  # the naive baseline wins
    assert skill["hit_rate"] == pytest.approx(240 / 397)
    assert body["skill_level"] == skill["skill"] == "none"
    assert body["skill_verdict"].startswith("The forecast has no measured out-of-sample skill on these holdings' "
                                            "own history: treat its tilts as unproven.")
    assert "RMSE 0.1002 does not beat the naive baselines (historical mean 0.0926, zero 0.0936)" in body["skill_verdict"]
    assert body["model_version"] == "ensemble-1.0+" + forecast["params_hash"][:8]


def test_answers_carry_the_forecast_models_version(client: FlaskClient) -> None:
    meta = _ok(client.get("/api/health"))["metadata"]
    assert meta["model_version"] == service.model_version()
    assert meta["model_version"].startswith("ensemble-1.0+")


def test_forecast_without_enough_history_is_422(client: FlaskClient) -> None:
    payload = {"portfolio": {"holdings": [{"symbol": "ZZZ", "asset_class": "stock", "quantity": 1, "price": 10.0,
                                           "target_weight": 1.0}]},
               "history": {"returns": {"ZZZ": [0.01, 0.02]}}}
    response = post_json(client, "/api/forecast", payload)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "insufficient_data"
    assert response.json["error"]["details"] == [
        {"loc": ["returns"], "msg": "fewer than 3 returns up to the as-of date", "type": "insufficient_data"}]


def test_forecast_settings_are_validated_by_the_engine(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    response = post_json(client, "/api/forecast", {"portfolio": portfolio,
                                                   "settings": {"short_window": 30, "long_window": 20}})
    assert response.status_code == 400
    assert without_metadata(response.json) == {"error": {
        "code": "validation_error", "message": "1 invalid field",
        "details": [{"loc": ["settings"], "msg": "long_window 20 must exceed short_window 30", "type": "value_error"}]}}


def test_optimised_targets_obey_every_constraint(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    settings = {"risk_aversion": 0.5, "cost_bps": 1.0, "turnover_limit": 0.1, "max_deviation": 0.05,
                "class_limits": {"equity": {"max": 0.72}, "crypto": {"max": 0.06}}}
    body = _ok(post_json(client, "/api/optimize", {"portfolio": portfolio, "optimize": settings}))
    expected = service.optimize({"portfolio": portfolio, "optimize": settings}).model_dump(mode="json")
    for answer in (body, expected):  # the solver's wall time is the one figure that differs between calls
        assert answer["targets"].pop("solve_seconds") > 0
    assert without_metadata(body) == expected
    targets = body["targets"]
    assert (targets["status"], targets["reason"]) == ("optimised", "optimal tilt within every constraint")
    weights, strategic, current = targets["weights"], body["strategic"], body["current"]
    confidence = {a["symbol"]: a["confidence"] for a in body["forecast"]["forecast"]["assets"]}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert min(weights.values()) >= -1e-9  # long-only
    for symbol, w in weights.items():  # the tilt is scaled by confidence
        assert abs(w - strategic[symbol]) <= 0.05 * confidence[symbol] + 1e-7, symbol
    buys = sum(max(w - current[s], 0.0) for s, w in weights.items())  # the sample holds no cash
    assert targets["turnover"] == pytest.approx(buys, abs=1e-9) and buys <= 0.1 + 1e-7
    exposure = {h["symbol"]: h["exposure"] for h in portfolio["holdings"]}
    equity = sum(w for s, w in weights.items() if exposure[s] == "equity")
    assert equity == pytest.approx(targets["class_weights"]["equity"]) and equity <= 0.72 + 1e-6
    assert weights["BTC"] <= 0.06 + 1e-6
    # All three portfolio-level limits bind here, and the answer says so.
    assert targets["binding"] == ["turnover_limit", "class_max:equity", "class_max:crypto"]
    for asset in targets["assets"]:
        assert asset["tilt"] == pytest.approx(weights[asset["symbol"]] - strategic[asset["symbol"]])
        assert set(asset["signal_terms"]) == {"momentum", "mean_reversion", "ewma"}
        assert asset["reason"]


@pytest.mark.parametrize(("settings", "reason"), [
    ({"min_confidence": 1.0}, "average confidence 0.674 is below the 1.000 threshold: the strategic targets are kept"),
    ({"max_deviation": 0.0, "class_limits": {"equity": {"max": 0.5}}},
     "infeasible: class 'equity' must stay within 0.00%–50.00% but its deviation bounds allow 70.00%–70.00%; "
     "the strategic targets are kept"),
], ids=["low confidence", "infeasible class bounds"])
def test_optimiser_fallbacks_keep_the_strategic_targets_and_say_why(
        client: FlaskClient, portfolio: dict[str, Any], settings: dict[str, Any], reason: str) -> None:
    body = _ok(post_json(client, "/api/optimize", {"portfolio": portfolio, "optimize": settings}))
    assert (body["targets"]["status"], body["targets"]["reason"]) == ("fallback", reason)
    assert body["targets"]["weights"] == pytest.approx(body["strategic"])


def test_backtest_replays_every_policy_including_the_ai_targets(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    body = _ok(post_json(client, "/api/backtest", {"portfolio": portfolio}))
    assert (body["start"], body["end"], body["window"]["frequency"]) == ("2014-01-31", "2019-12-31", "monthly")
    counts = [(p["name"], p["kind"], p["n_rebalances"], p["n_trades"], p["n_target_fallbacks"]) for p in body["policies"]]
    assert counts == [
        ("Buy and hold", "buy_and_hold", 0, 0, 0),
        ("Calendar (monthly)", "calendar", 71, 598, 0),
        ("Calendar (quarterly)", "calendar", 24, 207, 0),
        ("Calendar (annual)", "calendar", 6, 50, 0),
        ("Threshold bands", "threshold", 17, 26, 0),
        ("AI targets (monthly)", "targets", 71, 618, 12),
    ]
    for policy in body["policies"]:
        equity = policy["equity"]["values"]
        assert equity[0] == pytest.approx(body["initial_value"])  # every policy starts from the same money
        assert policy["end_value"] == pytest.approx(equity[-1])
        assert policy["total_return"] == pytest.approx(equity[-1] / equity[0] - 1)
        assert {"cagr", "volatility", "max_drawdown", "total_turnover", "total_costs"} <= set(policy)
    hold = body["policies"][0]
    assert hold["total_turnover"] == hold["total_costs"] == 0.0 and hold["rebalances"] == []


def test_every_documented_ai_example_is_answered(client: FlaskClient) -> None:
    forecast = _ok(post_json(client, "/api/forecast", examples.FORECAST))
    assert forecast["skill_level"] == "none" and forecast["forecast"]["as_of"] == "2016-09-30"
    optimised = _ok(post_json(client, "/api/optimize", examples.OPTIMIZE))
    assert optimised["targets"]["status"] == "optimised"
    backtest = _ok(post_json(client, "/api/backtest", examples.BACKTEST))
    assert (backtest["start"], backtest["end"]) == ("2012-01-03", "2016-09-30")
    assert [p["kind"] for p in backtest["policies"]][-1] == "targets"


def test_model_list_is_empty_before_any_run_and_filters_by_name(client: FlaskClient) -> None:
    assert _ok(client.get("/api/models", headers=AUTH))["models"] == []
    response = client.get("/api/models?name=&other=1", headers=AUTH)
    assert response.status_code == 400
    assert without_metadata(response.json)["error"]["details"] == [
        {"loc": ["query", "name"], "msg": "String should have at least 1 character", "type": "string_too_short"},
        {"loc": ["query", "other"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}]
