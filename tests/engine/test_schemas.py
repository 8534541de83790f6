"""The shared request models reject bad input with a field path and a readable message."""

from __future__ import annotations

import copy

import pytest

from engine.errors import InvalidRequest
from engine.schemas import Holding, Portfolio
from engine.service import validate

GOOD = {
    "name": "Test",
    "cash": 100.0,
    "holdings": [
        {"symbol": "SPY", "asset_class": "etf", "quantity": 10, "price": 400.0, "target_weight": 0.6},
        {"symbol": "AGG", "asset_class": "etf", "exposure": "fixed_income", "quantity": 30, "price": 100.0,
         "target_weight": 0.4},
    ],
}


def errors(data: dict) -> list[dict]:
    with pytest.raises(InvalidRequest) as info:
        validate(Portfolio, data)
    return info.value.details


def test_good_portfolio_values_and_defaults() -> None:
    p = validate(Portfolio, GOOD)
    assert p.total_value == pytest.approx(10 * 400 + 30 * 100 + 100)
    assert p.holdings[0].effective_trade_unit == 1.0
    assert p.holdings[1].effective_exposure == "fixed_income"
    assert Holding(symbol="BTC", asset_class="crypto", quantity=1, price=1.0,
                   target_weight=1.0).effective_trade_unit == 1e-8


@pytest.mark.parametrize(
    ("mutate", "loc", "type_"),
    [
        (lambda d: d["holdings"][0].update(quantity=-1), ["holdings", 0, "quantity"], "greater_than_equal"),
        (lambda d: d["holdings"][0].update(price=-5.0), ["holdings", 0, "price"], "greater_than"),
        (lambda d: d["holdings"][0].update(price=5e-324), ["holdings", 0, "price"], "value_error"),
        (lambda d: d["holdings"][0].update(quantity=1e300), ["holdings", 0, "quantity"], "less_than_equal"),
        (lambda d: d["holdings"][0].update(price=float("nan")), ["holdings", 0, "price"], "finite_number"),
        (lambda d: d["holdings"][0].update(price=float("inf")), ["holdings", 0, "price"], "finite_number"),
        (lambda d: d["holdings"][0].update(target_weight=1.5), ["holdings", 0, "target_weight"], "less_than_equal"),
        (lambda d: d["holdings"][0].update(asset_class="hedge_fund"), ["holdings", 0, "asset_class"],
         "literal_error"),
        (lambda d: d["holdings"][0].update(colour="red"), ["holdings", 0, "colour"], "extra_forbidden"),
        (lambda d: d["holdings"][0].update(quantity="10"), ["holdings", 0, "quantity"], "float_type"),
        (lambda d: d["holdings"][1].update(symbol="spy"), ["holdings"], "value_error"),
        (lambda d: d["holdings"][1].update(target_weight=0.3), ["holdings"], "value_error"),
        (lambda d: d.update(holdings=[]), ["holdings"], "too_short"),
        (lambda d: d.update(cash=-1.0), ["cash"], "greater_than_equal"),
    ],
)
def test_each_bad_field_is_named(mutate, loc, type_) -> None:
    data = copy.deepcopy(GOOD)
    mutate(data)
    details = errors(data)
    assert [d["loc"] for d in details] == [loc]
    assert details[0]["type"] == type_
    assert details[0]["msg"] and not details[0]["msg"].startswith("Value error")


def test_messages_for_consistency_rules_are_readable() -> None:
    data = copy.deepcopy(GOOD)
    data["holdings"][1]["target_weight"] = 0.3
    assert errors(data)[0]["msg"] == "target weights sum to 0.900000; they must sum to 1 (±1e-06)"
    data = copy.deepcopy(GOOD)
    data["holdings"][1]["symbol"] = "spy"
    assert errors(data)[0]["msg"] == "duplicate symbol 'spy' (holdings 0 and 1)"


def test_errors_come_in_a_deterministic_order() -> None:
    data = copy.deepcopy(GOOD)
    data["holdings"][1].update(quantity=-1, price=0.0, zz=1)
    data["holdings"][0].update(asset_class="x")
    first, second = errors(copy.deepcopy(data)), errors(copy.deepcopy(data))
    assert first == second
    assert [d["loc"] for d in first] == [
        ["holdings", 0, "asset_class"], ["holdings", 1, "quantity"], ["holdings", 1, "price"], ["holdings", 1, "zz"]
    ]


def test_too_many_holdings_rejected() -> None:
    h = {"symbol": "X", "asset_class": "stock", "quantity": 1, "price": 1.0, "target_weight": 0.0}
    data = {"holdings": [dict(h, symbol=f"S{i}") for i in range(5001)]}
    assert errors(data)[0]["type"] == "too_long"
