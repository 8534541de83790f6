"""The seed MVP's POST /api/rebalance payload: translation and its exact rebalance."""

from __future__ import annotations

import pytest

from engine import service
from engine.schemas import SeedRebalanceRequest
from engine.seed import infer_asset_class, seed_to_request

SEED = {  # verbatim from SEED.md
    "portfolio_value": 100000,
    "drift_threshold": 0.02,
    "turnover_limit": 0.2,
    "transaction_cost_bps": 10,
    "assets": [
        {
            "asset": "ETF",
            "target_weight": 0.2,
            "current_weight": 0.24,
            "market_return": 0.022,
            "price": 95,
            "historical_returns": [0.01, 0.012, 0.008, 0.011, 0.022],
        }
    ],
}
ETF_WEIGHT = 0.24 * 1.022 / (0.24 * 1.022 + 0.76)  # drifted, renormalised with 76 % cash at 0 %


def test_the_seed_example_keeps_unallocated_weight_as_cash_and_a_reserve() -> None:
    req = seed_to_request(SeedRebalanceRequest.model_validate(SEED))
    (etf,) = req.portfolio.holdings
    assert (etf.symbol, etf.asset_class, etf.price) == ("ETF", "etf", 95.0)
    assert etf.quantity == pytest.approx(ETF_WEIGHT * 100_000 / 95, rel=1e-12)
    # 80 % of the target is cash: a reserve of 80,000 that is never spent; the ETF's target is
    # rescaled to 1 so that its effective target, 1 × (100,000 − 80,000) / 100,000, is 20 %.
    assert etf.target_weight == pytest.approx(1.0)
    assert req.policy.cash_reserve == pytest.approx(80_000.0)
    assert req.portfolio.cash == pytest.approx((1 - ETF_WEIGHT) * 100_000, rel=1e-12)
    assert req.portfolio.total_value == pytest.approx(100_000.0)
    assert req.policy.band.kind == "absolute" and req.policy.band.width == 0.02
    assert (req.policy.turnover_limit, req.policy.cost_bps) == (0.2, 10)
    assert req.history is not None and req.history.returns == {"ETF": [0.01, 0.012, 0.008, 0.011, 0.022]}
    assert req.history.periods_per_year == 252 and req.monte_carlo.seed == 42


def test_the_seed_example_rebalances_to_pinned_trades() -> None:
    r = service.rebalance(SEED)
    (etf,) = r.trades
    # ETF: 24.40 % against 20 % ± 2 pp -> sell 46.31 shares to target, nearest lot 46 = 4,370, cost 4.37.
    assert etf.effective_target_weight == pytest.approx(0.2)
    assert etf.drift == pytest.approx(ETF_WEIGHT - 0.2)
    assert (etf.action, etf.units, etf.trade_value, etf.cost) == ("SELL", 46.0, 4_370.0, pytest.approx(4.37))
    # Selling into cash buys nothing: one-way turnover (buys / value) is 0.
    assert (r.totals.buy_value, r.totals.sell_value, r.totals.turnover) == (0.0, 4_370.0, 0.0)
    assert r.totals.post_trade_value == pytest.approx(99_995.63)
    cash_after = (1 - ETF_WEIGHT) * 100_000 + 4_370 - 4.37
    assert r.totals.residual_cash == pytest.approx(cash_after)
    assert r.post_trade_weights["ETF"] == pytest.approx((ETF_WEIGHT * 100_000 - 4_370) / 99_995.63)
    assert r.post_trade_weights["CASH"] == pytest.approx(cash_after / 99_995.63)
    assert sum(r.post_trade_weights.values()) == pytest.approx(1.0, abs=1e-12)


def test_fully_allocated_payload_adds_no_cash_and_uses_extensions() -> None:
    data = {"portfolio_value": 50_000.0, "periods_per_year": 12, "seed": 7, "assets": [
        {"asset": "Bitcoin", "target_weight": 0.5, "current_weight": 0.5, "market_return": 0.5, "price": 60_000.0,
         "historical_returns": [0.1, -0.05]},
        {"asset": "Core", "asset_class": "bond", "target_weight": 0.5, "current_weight": 0.5, "price": 100.0},
    ]}
    req = seed_to_request(SeedRebalanceRequest.model_validate(data))
    btc, core = req.portfolio.holdings
    assert len(req.portfolio.holdings) == 2 and (btc.asset_class, core.asset_class) == ("crypto", "bond")
    assert btc.quantity == pytest.approx(0.75 / 1.25 * 50_000 / 60_000)
    assert core.quantity == pytest.approx(0.5 / 1.25 * 50_000 / 100)
    assert req.history.returns == {"Bitcoin": [0.1, -0.05]} and req.history.periods_per_year == 12
    assert req.monte_carlo.seed == 7 and req.policy.turnover_limit is None


def test_partial_targets_are_rescaled_and_the_rest_reserved() -> None:
    data = {"portfolio_value": 1_000.0, "assets": [
        {"asset": "Cash", "target_weight": 0.1, "current_weight": 0.1, "price": 1.0},
        {"asset": "Stocks", "target_weight": 0.6, "current_weight": 0.7, "price": 10.0},
    ]}
    req = seed_to_request(SeedRebalanceRequest.model_validate(data))
    cash, stocks = req.portfolio.holdings
    assert (cash.asset_class, stocks.asset_class) == ("cash", "stock")
    assert cash.target_weight == pytest.approx(0.1 / 0.7) and stocks.target_weight == pytest.approx(0.6 / 0.7)
    assert req.policy.cash_reserve == pytest.approx(300.0) and req.portfolio.cash == pytest.approx(200.0)


def test_all_zero_targets_are_refused() -> None:
    from engine.errors import InvalidRequest

    data = {"portfolio_value": 1_000.0, "assets": [{"asset": "ETF", "target_weight": 0.0, "current_weight": 0.5,
                                                      "price": 10.0}]}
    with pytest.raises(InvalidRequest) as info:
        service.rebalance(data)
    assert info.value.details == [{"loc": ["assets"], "type": "value_error",
                                   "msg": "every target_weight is 0; at least one asset needs a target above 0"}]


def test_no_history_gives_no_history() -> None:
    data = {"portfolio_value": 1_000.0, "assets": [{"asset": "ETF", "target_weight": 1.0, "current_weight": 1.0,
                                                      "price": 10.0}]}
    assert seed_to_request(SeedRebalanceRequest.model_validate(data)).history is None


@pytest.mark.parametrize(("name", "expected"), [
    ("Mutual Fund", "mutual_fund"), ("ETF", "etf"), ("Stocks", "stock"), ("Bond", "bond"), ("Bonds", "bond"),
    ("Commodity", "commodity"), ("FX", "fx"), ("Crypto", "crypto"), ("Cash", "cash"), ("us stocks", "stock"),
    ("Gold ETC", "commodity"), ("SPY", "etf"), ("Stockholm Index", "etf"),
])
def test_asset_class_is_inferred_from_the_name(name: str, expected: str) -> None:
    assert infer_asset_class(name) == expected


def test_the_seed_benchmark_is_the_targets_with_their_cash() -> None:
    report = service.rebalance_report(SEED)
    # Portfolio = ETF_WEIGHT × r (the rest is cash at 0); benchmark = 20 % × r: beta = ETF_WEIGHT / 0.2.
    assert report.risk.before.beta == pytest.approx(ETF_WEIGHT / 0.2, rel=1e-9)
    after_etf = report.post_trade_weights["ETF"]
    assert report.risk.after.beta == pytest.approx(after_etf / 0.2, rel=1e-9)


def test_the_seed_report_states_targets_as_the_caller_sent_them() -> None:
    (etf,) = service.rebalance_report(SEED).trades
    assert etf.target_weight == pytest.approx(0.2)
    assert etf.drift == pytest.approx(etf.current_weight - 0.2)


def test_a_seed_position_too_large_to_hold_is_a_validation_error_on_the_seed_field() -> None:
    from engine.errors import InvalidRequest

    # 1e15 × 0.5 / 1e-9 units exceeds the engine's quantity bound: a 400 naming the asset, not a crash.
    data = {"portfolio_value": 1e15, "assets": [{"asset": "ETF", "target_weight": 1.0, "current_weight": 0.5,
                                                  "price": 1e-9}]}
    with pytest.raises(InvalidRequest) as info:
        service.rebalance_report(data)
    assert [d["loc"] for d in info.value.details] == [["assets", 0, "price"]]
    assert "units" in info.value.details[0]["msg"]


def test_a_stress_run_that_cannot_be_computed_leaves_the_trades_and_risk_standing() -> None:
    # Returns of +9,900 % and +10,000 % on a 24 % position compound past float64 within 252 steps.
    data = {**SEED, "assets": [{**SEED["assets"][0], "historical_returns": [99.0, 100.0]}]}
    report = service.rebalance_report(data)
    assert report.risk is not None and report.stress is None
    assert [t.action for t in report.trades] == ["SELL"]
    assert any(w.startswith("stress not computed: simulated values overflow") for w in report.warnings)


def test_both_service_doors_state_the_seed_targets_alike() -> None:
    # The desktop's door (rebalance) and the API's (rebalance_report) must show the same lines.
    assert service.rebalance(SEED).trades == service.rebalance_report(SEED).trades
    assert service.rebalance(SEED).trades[0].target_weight == pytest.approx(0.2)
