"""Bad input: exact 400 bodies (minus metadata), transport errors, 404/405/413/500 as JSON."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from engine import service
from tests.api.conftest import AUTH, TOKEN, post_json, without_metadata


def _invalid(message: str, *details: tuple[list[Any], str, str]) -> dict[str, Any]:
    return {"error": {"code": "validation_error", "message": message,
                      "details": [{"loc": loc, "msg": msg, "type": typ} for loc, msg, typ in details]}}


def _holding(symbol: str, weight: float, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "asset_class": "etf", "quantity": 1, "price": 1, "target_weight": weight, **extra}


def _seed_asset(name: str, target: float, current: float, **extra: Any) -> dict[str, Any]:
    return {"asset": name, "target_weight": target, "current_weight": current, "price": 1, **extra}


# (id, path, payload, expected body without metadata)
BAD_PAYLOADS: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("empty series", "/api/risk", {"returns": []},
     _invalid("1 invalid field", (["returns"], "List should have at least 1 item after validation, not 0", "too_short"))),
    ("unknown field", "/api/risk", {"returns": [0.01], "foo": 1},
     _invalid("1 invalid field", (["foo"], "Extra inputs are not permitted", "extra_forbidden"))),
    ("wrong type", "/api/risk", {"returns": "abc"},
     _invalid("1 invalid field", (["returns"], "Input should be a valid list", "list_type"))),
    ("strings, bools, out of range, in list order", "/api/risk", {"returns": ["0.01", True, -1.5, 101]},
     _invalid("4 invalid fields",
              (["returns", 0], "Input should be a valid number", "float_type"),
              (["returns", 1], "Input should be a valid number", "float_type"),
              (["returns", 2], "Input should be greater than -1", "greater_than"),
              (["returns", 3], "Input should be less than or equal to 100", "less_than_equal"))),
    ("benchmark length", "/api/risk", {"returns": [0.01, 0.02, 0.03], "benchmark_returns": [0.01, 0.02]},
     _invalid("1 invalid field", ([], "benchmark_returns has 2 values; returns has 3", "value_error"))),
    ("settings out of range", "/api/risk", {"returns": [0.01], "risk_free_rate": 2, "periods_per_year": 0},
     _invalid("2 invalid fields",
              (["risk_free_rate"], "Input should be less than or equal to 1", "less_than_equal"),
              (["periods_per_year"], "Input should be greater than or equal to 1", "greater_than_equal"))),
    ("seed: duplicate asset", "/api/rebalance",
     {"portfolio_value": 1000, "assets": [_seed_asset("ETF", 0.5, 0.5), _seed_asset("etf", 0.5, 0.5)]},
     _invalid("1 invalid field", (["assets"], "duplicate asset 'etf' (assets 0 and 1)", "value_error"))),
    ("seed: targets above 1", "/api/rebalance",
     {"portfolio_value": 1000, "assets": [_seed_asset("A", 0.7, 0.5), _seed_asset("B", 0.4, 0.5)]},
     _invalid("1 invalid field", (["assets"], "target_weights sum to 1.100000; they must not exceed 1", "value_error"))),
    ("seed: several errors in declaration order", "/api/rebalance",
     {"portfolio_value": -5, "drift_threshold": "0.02",
      "assets": [{"asset": "A", "target_weight": 1.2, "current_weight": 0.5}]},
     _invalid("4 invalid fields",
              (["portfolio_value"], "Input should be greater than or equal to 0.01", "greater_than_equal"),
              (["drift_threshold"], "Input should be a valid number", "float_type"),
              (["assets", 0, "target_weight"], "Input should be less than or equal to 1", "less_than_equal"),
              (["assets", 0, "price"], "Field required", "missing"))),
    ("seed: no assets", "/api/rebalance", {"portfolio_value": 1000, "assets": []},
     _invalid("1 invalid field", (["assets"], "List should have at least 1 item after validation, not 0", "too_short"))),
    ("targets not summing to 1", "/api/rebalance",
     {"portfolio": {"holdings": [_holding("SPY", 0.5), _holding("AGG", 0.4)]}},
     _invalid("1 invalid field", (["portfolio", "holdings"],
                                  "target weights sum to 0.900000; they must sum to 1 (±1e-06)", "value_error"))),
    ("duplicate symbols", "/api/rebalance",
     {"portfolio": {"holdings": [_holding("SPY", 0.5), _holding("spy", 0.5)]}},
     _invalid("1 invalid field", (["portfolio", "holdings"], "duplicate symbol 'spy' (holdings 0 and 1)", "value_error"))),
    ("unknown class, negative quantity, zero price", "/api/rebalance",
     {"portfolio": {"holdings": [_holding("SPY", 1.0, asset_class="bond_fund", quantity=-1, price=0)]}},
     _invalid("3 invalid fields",
              (["portfolio", "holdings", 0, "asset_class"],
               "Input should be 'mutual_fund', 'etf', 'stock', 'bond', 'commodity', 'fx', 'crypto' or 'cash'",
               "literal_error"),
              (["portfolio", "holdings", 0, "quantity"], "Input should be greater than or equal to 0", "greater_than_equal"),
              (["portfolio", "holdings", 0, "price"], "Input should be greater than 0", "greater_than"))),
    ("missing holdings", "/api/rebalance", {"portfolio": {}},
     _invalid("1 invalid field", (["portfolio", "holdings"], "Field required", "missing"))),
    ("double-encoded JSON", "/api/rebalance", '{"portfolio": {}}',
     _invalid("1 invalid field", ([], "Input should be a valid dictionary or instance of RebalanceRequest", "model_type"))),
    ("array body", "/api/rebalance", [],
     _invalid("1 invalid field", ([], "Input should be a valid dictionary or instance of RebalanceRequest", "model_type"))),
    ("stress: unknown field", "/api/stress", {"portfolio": {"holdings": [_holding("SPY", 1.0)]}, "paths": 10},
     _invalid("1 invalid field", (["paths"], "Extra inputs are not permitted", "extra_forbidden"))),
]


@pytest.mark.parametrize(("path", "payload", "expected"), [c[1:] for c in BAD_PAYLOADS], ids=[c[0] for c in BAD_PAYLOADS])
def test_bad_payload_gives_exact_400_body(client: FlaskClient, path: str, payload: Any, expected: dict) -> None:
    first = post_json(client, path, payload)
    second = post_json(client, path, payload)
    assert first.status_code == 400
    assert first.mimetype == "application/json"
    assert without_metadata(first.json) == expected
    assert without_metadata(second.json) == without_metadata(first.json)  # deterministic apart from metadata
    assert first.json["metadata"]["request_id"] == first.headers["X-Request-ID"]


def _raw(client: FlaskClient, data: bytes | str, content_type: str | None = "application/json",
         path: str = "/api/risk") -> Any:
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(path, data=data, headers=headers)


def _json_error(msg: str) -> dict[str, Any]:
    return {"error": {"code": "invalid_json", "message": "the request body is not valid JSON",
                      "details": [{"loc": [], "msg": msg, "type": "json_invalid"}]}}


@pytest.mark.parametrize(("data", "msg"), [
    (b'{"returns": [NaN]}', "NaN is not valid JSON"),
    (b'{"returns": [Infinity]}', "Infinity is not valid JSON"),
    (b'{"returns": [-Infinity]}', "-Infinity is not valid JSON"),
    (b'{"returns": [1e999]}', "number 1e999 is out of range (not finite)"),
    (b'{"returns": [-1e999]}', "number -1e999 is out of range (not finite)"),
    (b'{"returns": [0.01,]}', "Expecting value: line 1 column 19 (char 18)"),
    (b"returns=0.01", "Expecting value: line 1 column 1 (char 0)"),
    (b"", "the request body is empty"),
    (b"  \n", "the request body is empty"),
    (b'{"returns": [0.01]} trailing', "Extra data: line 1 column 21 (char 20)"),
    (b"[" * 100_000 + b"]" * 100_000, "the JSON is nested too deeply"),
    (b'{"a": "\xff"}', "'utf-8' codec can't decode byte 0xff in position 7: invalid start byte"),
], ids=["nan", "inf", "-inf", "1e999", "-1e999", "trailing comma", "form data", "empty", "blank", "extra data",
        "deep nesting", "bad utf-8"])
def test_malformed_json_is_400_invalid_json(client: FlaskClient, data: bytes, msg: str) -> None:
    response = _raw(client, data)
    assert response.status_code == 400
    assert without_metadata(response.json) == _json_error(msg)


@pytest.mark.parametrize(("content_type", "shown"), [
    ("text/plain", "text/plain"),
    ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
    (None, "none"),
])
def test_wrong_content_type_is_400(client: FlaskClient, content_type: str | None, shown: str) -> None:
    response = _raw(client, b'{"returns": [0.01]}', content_type)
    msg = f"expected Content-Type application/json, got {shown}"
    assert response.status_code == 400
    assert without_metadata(response.json) == {"error": {
        "code": "invalid_content_type", "message": msg,
        "details": [{"loc": ["headers", "Content-Type"], "msg": msg, "type": "content_type"}]}}


def test_json_with_charset_parameter_is_accepted(client: FlaskClient) -> None:
    response = _raw(client, b'{"returns": "x"}', "application/json; charset=utf-8")
    assert response.json["error"]["code"] == "validation_error"  # parsed, then validated


def test_404_and_405_are_json(client: FlaskClient) -> None:
    missing = client.get("/api/nothing-here", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "not_found"
    assert missing.json["error"]["details"] == []
    wrong = client.get("/api/rebalance", headers=AUTH)
    assert wrong.status_code == 405
    assert wrong.json["error"]["code"] == "method_not_allowed"
    assert wrong.headers["Allow"] == "POST"
    options = client.options("/api/rebalance", headers=AUTH)  # no automatic OPTIONS: no CORS pre-flight
    assert options.status_code == 405
    assert "Access-Control-Allow-Origin" not in options.headers


def test_size_limit_default_2mb_is_413_json(client: FlaskClient) -> None:
    body = b'{"returns": [' + b"0.001," * 400_000 + b"0.001]}"  # ≈ 2.4 MB
    assert len(body) > 2 * 1024 * 1024
    response = _raw(client, body)
    assert response.status_code == 413
    assert without_metadata(response.json) == {"error": {
        "code": "payload_too_large", "message": "the request body exceeds the limit of 2,097,152 bytes", "details": []}}


def test_size_limit_is_configurable() -> None:
    client = create_app({"API_TOKEN": TOKEN, "MAX_CONTENT_LENGTH": 64}).test_client()
    response = _raw(client, b'{"returns": [' + b"0.01," * 20 + b"0.01]}")
    assert response.status_code == 413
    assert response.json["error"]["message"] == "the request body exceeds the limit of 64 bytes"


def test_unexpected_error_is_logged_and_answered_as_json_500(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "list_scenarios", broken)
    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        response = client.get("/api/scenarios", headers={**AUTH, "X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert without_metadata(response.json) == {"error": {
        "code": "internal_error", "message": "unexpected server error; quote request id req-42 when reporting it",
        "details": []}}
    assert response.json["metadata"]["request_id"] == "req-42" == response.headers["X-Request-ID"]
    assert b"secret internal detail" not in response.data and b"Traceback" not in response.data
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(("error", "status", "code"), [
    ("DataError", 422, "data_error"),
    ("InsufficientData", 422, "insufficient_data"),
    ("SolverError", 422, "solver_error"),
])
def test_engine_data_errors_are_422(client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                    error: str, status: int, code: str) -> None:
    import engine.errors

    exc = getattr(engine.errors, error)("no history for XYZ")

    def failing() -> list:
        raise exc

    monkeypatch.setattr(service, "catalogue", failing)
    response = client.get("/api/market-data/symbols", headers=AUTH)
    assert response.status_code == status
    assert without_metadata(response.json) == {"error": exc.to_dict()}
    assert response.json["error"]["code"] == code


def test_inputs_that_once_crashed_the_engine_are_answered_as_client_errors(client: FlaskClient) -> None:
    # A seed position too large to hold (was a pydantic error escaping the engine: a 500) and a
    # Monte Carlo whose values overflow float64 (was a NaN crash in the histogram: a 500).
    seed = {"portfolio_value": 1e15, "assets": [{"asset": "ETF", "target_weight": 1.0, "current_weight": 0.5,
                                                  "price": 1e-9}]}
    r = post_json(client, "/api/rebalance", seed)
    assert r.status_code == 400 and r.get_json()["error"]["details"][0]["loc"] == ["assets", 0, "price"]
    stress = {"portfolio": {"holdings": [{"symbol": "X", "asset_class": "etf", "quantity": 1.0, "price": 400.0,
                                          "target_weight": 1.0}]},
              "monte_carlo": {"paths": 100, "horizon": 2_520}, "history": {"returns": {"X": [50.0, 60.0]}}}
    r = post_json(client, "/api/stress", stress)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "insufficient_data"
