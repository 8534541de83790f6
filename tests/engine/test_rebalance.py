"""Hand-computed rebalances: bands, lots, costs, turnover cap, cash flows, reserve, minimum trade."""

from __future__ import annotations

import pytest

from engine import service
from engine.rebalance import rebalance
from engine.schemas import Band, Holding, Portfolio, RebalancePolicy, RebalanceResult, TradeLine


def book(*rows: tuple, cash: float = 0.0) -> Portfolio:
    """rows: (symbol, asset_class, quantity, price, target[, trade_unit])."""
    holdings = [Holding(symbol=r[0], asset_class=r[1], quantity=float(r[2]), price=float(r[3]),
                        target_weight=r[4], trade_unit=r[5] if len(r) > 5 else None) for r in rows]
    return Portfolio(holdings=holdings, cash=cash)


def by_symbol(result: RebalanceResult) -> dict[str, TradeLine]:
    return {t.symbol: t for t in result.trades}


SIXTY_SIX = book(("A", "etf", 660, 100, 0.6), ("B", "etf", 680, 50, 0.4))  # 66/34 against 60/40


def test_66_34_with_2pp_bands_and_10bps_costs() -> None:
    r = rebalance(SIXTY_SIX, RebalancePolicy())
    a, b = by_symbol(r)["A"], by_symbol(r)["B"]
    assert (a.action, a.units, a.trade_value, a.cost) == ("SELL", 60.0, 6000.0, pytest.approx(6.0))
    # 6000 − 6 = 5994 of proceeds buy 119 shares (5950 + 5.95); 120 would cost 6006.
    assert (b.action, b.units, b.trade_value, b.cost) == ("BUY", 119.0, 5950.0, pytest.approx(5.95))
    assert a.drift == pytest.approx(0.06) and b.drift == pytest.approx(-0.06)
    assert (a.band_low, a.band_high, a.in_band) == (pytest.approx(0.58), pytest.approx(0.62), False)
    assert a.reason == "drift +6.0 pp outside ±2.0 pp band; sold back to target"
    t = r.totals
    assert t.residual_cash == pytest.approx(38.05)
    assert t.total_cost == pytest.approx(11.95)
    assert t.post_trade_value == pytest.approx(99_988.05)
    assert t.turnover == pytest.approx(0.0595)
    assert t.limits_bound == [] and not t.turnover_limit_bound
    assert a.post_trade_weight == pytest.approx(60_000 / 99_988.05)
    assert r.post_trade_weights["CASH"] == pytest.approx(38.05 / 99_988.05)
    assert sum(r.post_trade_weights.values()) == pytest.approx(1.0, abs=1e-12)


def test_without_costs_the_66_34_lands_exactly_on_60_40() -> None:
    r = rebalance(SIXTY_SIX, RebalancePolicy(cost_bps=0.0))
    assert [(t.action, t.units) for t in r.trades] == [("SELL", 60.0), ("BUY", 120.0)]
    assert r.post_trade_weights == pytest.approx({"A": 0.6, "B": 0.4, "CASH": 0.0})
    assert r.totals.residual_cash == pytest.approx(0.0, abs=1e-9)


def test_band_edge_mode_trades_only_to_the_nearest_edge() -> None:
    r = rebalance(SIXTY_SIX, RebalancePolicy(cost_bps=0.0, rebalance_to="band_edge"))
    a, b = by_symbol(r)["A"], by_symbol(r)["B"]
    assert (a.action, a.units, b.action, b.units) == ("SELL", 40.0, "BUY", 80.0)
    assert r.post_trade_weights == pytest.approx({"A": 0.62, "B": 0.38, "CASH": 0.0})
    assert a.reason.endswith("sold to band edge")


def test_in_band_positions_hold() -> None:
    p = book(("A", "etf", 615, 100, 0.6), ("B", "etf", 770, 50, 0.4))  # 61.5/38.5
    r = rebalance(p, RebalancePolicy())
    assert [t.action for t in r.trades] == ["HOLD", "HOLD"]
    assert by_symbol(r)["A"].reason == "within band (drift +1.5 pp, ±2.0 pp band)"
    assert r.totals.n_trades == 0 and r.post_trade_weights == pytest.approx({"A": 0.615, "B": 0.385, "CASH": 0})


RELATIVE = book(("A", "etf", 47, 100, 0.5), ("B", "etf", 33, 100, 0.3), ("C", "stock", 12, 100, 0.2), cash=800.0)


def test_relative_band_of_25_percent_of_target() -> None:
    r = rebalance(RELATIVE, RebalancePolicy(band=Band(kind="relative", width=0.25), cost_bps=0.0))
    a, b, c = (by_symbol(r)[s] for s in "ABC")
    # A: 47 % in 50 % ± 12.5 pp; B: 33 % in 30 % ± 7.5 pp; C: 12 % outside 20 % ± 5 pp.
    assert (a.band_low, a.band_high) == (pytest.approx(0.375), pytest.approx(0.625))
    assert (c.band_low, c.band_high) == (pytest.approx(0.15), pytest.approx(0.25))
    assert (a.action, b.action, c.action, c.units) == ("HOLD", "HOLD", "BUY", 8.0)
    assert c.reason == "drift -8.0 pp outside ±25 % relative band (±5.0 pp); bought back to target"
    assert r.totals.residual_cash == pytest.approx(0.0, abs=1e-9)
    # The same book with ±2 pp absolute bands trades all three.
    absolute = rebalance(RELATIVE, RebalancePolicy(cost_bps=0.0))
    assert [t.action for t in absolute.trades] == ["BUY", "SELL", "BUY"]


def test_band_and_cost_overrides_per_asset_class() -> None:
    policy = RebalancePolicy(band=Band(kind="relative", width=0.25), band_by_class={"stock": Band(width=0.1)},
                             cost_bps_by_class={"etf": 0.0})
    r = rebalance(RELATIVE, policy)
    assert by_symbol(r)["C"].action == "HOLD" and by_symbol(r)["C"].band_high == pytest.approx(0.3)
    r = rebalance(SIXTY_SIX, RebalancePolicy(cost_bps_by_class={"etf": 25.0}))
    assert by_symbol(r)["A"].cost == pytest.approx(6000 * 25 / 1e4) and by_symbol(r)["A"].cost_bps == 25.0


# A +10 pp, B −7 pp, C −3 pp; prices 100 / 100 / 10; no costs.
CAPPED = book(("A", "etf", 500, 100, 0.4), ("B", "etf", 230, 100, 0.3), ("C", "etf", 2700, 10, 0.3))


def test_turnover_cap_fixes_the_largest_drift_first_and_funds_only_what_it_buys() -> None:
    r = rebalance(CAPPED, RebalancePolicy(cost_bps=0.0, turnover_limit=0.05))
    a, b, c = (by_symbol(r)[s] for s in "ABC")
    assert (b.action, b.units) == ("BUY", 50.0)  # 5,000 of the 7,000 B wants
    assert c.action == "HOLD" and c.reason == "drift -3.0 pp outside ±2.0 pp band; not traded: turnover cap reached"
    assert (a.action, a.units) == ("SELL", 50.0)  # only what the capped buys need, not 100
    assert "limited by turnover cap" in b.reason and "turnover cap" in a.reason
    assert r.totals.turnover == pytest.approx(0.05) and r.totals.turnover_limit_bound
    assert r.totals.limits_bound == ["turnover_limit"]
    assert r.totals.residual_cash == pytest.approx(0.0, abs=1e-9)


def test_turnover_cap_partially_fills_the_marginal_trade() -> None:
    r = rebalance(CAPPED, RebalancePolicy(cost_bps=0.0, turnover_limit=0.08))
    a, b, c = (by_symbol(r)[s] for s in "ABC")
    assert (a.units, b.units, c.units) == (80.0, 70.0, 100.0)  # B in full, C 1,000 of 3,000
    assert r.totals.buy_value == pytest.approx(8_000.0)


def test_turnover_cap_is_approached_as_closely_as_lots_allow() -> None:
    r = rebalance(CAPPED, RebalancePolicy(cost_bps=0.0, turnover_limit=0.0505))
    # 5,050 of buys: B gets 50 shares (a 51st would pass the cap); C's 10-priced lots fill the last 50.
    assert (by_symbol(r)["B"].units, by_symbol(r)["C"].units) == (50.0, 5.0)
    assert r.totals.turnover == pytest.approx(0.0505)
    assert r.totals.turnover <= 0.0505


def test_a_cap_that_does_not_bind_changes_nothing() -> None:
    free = rebalance(CAPPED, RebalancePolicy(cost_bps=0.0))
    capped = rebalance(CAPPED, RebalancePolicy(cost_bps=0.0, turnover_limit=0.5))
    assert [t.units for t in free.trades] == [t.units for t in capped.trades] == [100.0, 70.0, 300.0]
    assert not capped.totals.turnover_limit_bound


def test_whole_shares_versus_crypto_satoshis() -> None:
    p = book(("SPY", "etf", 100, 450, 0.5), ("BTC", "crypto", 0.5, 65_000, 0.5), cash=2_500.0)
    r = rebalance(p, RebalancePolicy(cost_bps=0.0))
    spy, btc = by_symbol(r)["SPY"], by_symbol(r)["BTC"]
    assert (spy.action, spy.units, spy.trade_value) == ("SELL", 11.0, 4_950.0)  # 11.11 shares, nearest lot
    # 2,500 + 4,950 buys 0.11461538 BTC (floor to 1e-8): 7,449.9997
    assert (btc.action, btc.units, btc.trade_unit) == ("BUY", 0.11461538, 1e-8)
    assert btc.trade_value == pytest.approx(0.11461538 * 65_000)
    assert r.totals.residual_cash == pytest.approx(7_450 - 0.11461538 * 65_000)
    assert 0 <= r.totals.residual_cash < 65_000 * 1e-8


def test_a_deposit_is_invested_in_the_most_underweight_first() -> None:
    p = book(("A", "etf", 610, 100, 0.6), ("B", "etf", 780, 50, 0.4))  # 61/39
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, cash_flow=1_000.0))
    a, b = by_symbol(r)["A"], by_symbol(r)["B"]
    # V' = 101,000: A is 400 under its 60,600 target, B 1,400 under 40,400: all 1,000 go to B.
    assert (a.action, b.action, b.units) == ("HOLD", "BUY", 20.0)
    assert b.reason == "invests the deposit towards target (drift -1.4 pp)"
    assert r.totals.cash_flow == 1_000.0 and r.totals.residual_cash == pytest.approx(0.0, abs=1e-9)
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, cash_flow=2_000.0))  # both reach target
    assert [t.units for t in r.trades] == [2.0, 36.0]


def test_a_withdrawal_is_raised_from_the_most_overweight_first() -> None:
    p = book(("A", "etf", 610, 100, 0.6), ("B", "etf", 780, 50, 0.4))
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, cash_flow=-1_000.0))
    a, b = by_symbol(r)["A"], by_symbol(r)["B"]
    assert (a.action, a.units, b.action) == ("SELL", 10.0, "HOLD")
    assert a.reason.startswith("sold to raise the withdrawal")
    assert r.totals.residual_cash == pytest.approx(0.0, abs=1e-9)
    assert r.totals.post_trade_value == pytest.approx(99_000.0)


def test_a_withdrawal_larger_than_the_portfolio_raises_what_it_can_and_warns() -> None:
    p = book(("A", "etf", 610, 100, 0.6), ("B", "etf", 780, 50, 0.4), cash=500.0)
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, cash_flow=-1e6))
    assert [(t.action, t.units) for t in r.trades] == [("SELL", 610.0), ("SELL", 780.0)]
    assert r.totals.cash_flow == pytest.approx(-100_500.0)
    assert r.warnings and "exceeds what can be raised" in r.warnings[0]
    assert r.post_trade_weights["CASH"] == 1.0


def test_the_cash_reserve_is_never_spent() -> None:
    # Reserve 5,000: investable 95,000, so A's effective target is 57 % and B's 38 %.
    p = book(("A", "etf", 585, 100, 0.6), ("B", "etf", 350, 100, 0.4), cash=6_500.0)
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, cash_reserve=5_000.0))
    a, b = by_symbol(r)["A"], by_symbol(r)["B"]
    assert b.effective_target_weight == pytest.approx(0.38) and b.target_weight == 0.4
    assert b.drift == pytest.approx(-0.03) and a.drift == pytest.approx(0.015)
    assert (a.action, b.action, b.units) == ("HOLD", "BUY", 15.0)  # only 1,500 is above the reserve
    assert r.totals.residual_cash == pytest.approx(5_000.0)
    assert r.totals.limits_bound == ["cash", "cash_reserve"]
    assert b.reason.endswith("bought towards target; limited by available cash")


def test_cash_below_the_reserve_is_refilled_before_any_buy() -> None:
    in_band = book(("A", "etf", 590, 100, 0.6), ("B", "etf", 390, 100, 0.4), cash=1_000.0)
    r = rebalance(in_band, RebalancePolicy(cash_reserve=2_000.0, cash_flow=500.0))
    assert [t.action for t in r.trades] == ["HOLD", "HOLD"]  # the deposit only tops up the reserve
    assert r.totals.residual_cash == pytest.approx(1_500.0)
    assert any("below the reserve" in w for w in r.warnings)
    out_of_band = book(("A", "etf", 600, 100, 0.6), ("B", "etf", 300, 100, 0.4), cash=1_000.0)
    r = rebalance(out_of_band, RebalancePolicy(cash_reserve=2_000.0))
    assert [t.action for t in r.trades] == ["SELL", "BUY"]
    assert r.totals.residual_cash >= 2_000.0


def test_no_trade_below_the_minimum_trade_value() -> None:
    p = book(("A", "etf", 600, 100, 0.6), ("B", "etf", 700, 50, 0.4), cash=5_000.0)  # B −5 pp
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, min_trade_value=6_000.0))
    b = by_symbol(r)["B"]
    assert b.action == "HOLD" and b.reason == "trade of 5,000.00 below minimum trade value 6,000.00; held"
    assert r.totals.limits_bound == ["min_trade_value"]
    r = rebalance(p, RebalancePolicy(cost_bps=0.0, min_trade_value=5_000.0))
    assert (by_symbol(r)["B"].action, by_symbol(r)["B"].units) == ("BUY", 100.0)


def test_results_are_valid_models_and_weights_sum_to_one() -> None:
    r = rebalance(RELATIVE, RebalancePolicy(cash_flow=3_000.0, turnover_limit=0.1, cash_reserve=100.0))
    again = RebalanceResult.model_validate(r.model_dump())
    assert again == r
    assert sum(r.post_trade_weights.values()) == pytest.approx(1.0, abs=1e-12)
    for t in r.trades:
        assert t.post_trade_quantity >= 0 and t.trade_value == pytest.approx(t.units * t.price)


def test_a_new_account_funded_by_a_deposit_gets_its_trades_from_the_report_too() -> None:
    # Nothing held yet: the trades are those of service.rebalance; risk and stress of an empty
    # portfolio are undefined, so they are left out with a warning instead of refusing the request.
    data = {"portfolio": {"cash": 0.0, "holdings": [
        {"symbol": "SPY", "asset_class": "etf", "quantity": 0.0, "price": 400.0, "target_weight": 0.6},
        {"symbol": "AGG", "asset_class": "etf", "quantity": 0.0, "price": 100.0, "target_weight": 0.4}]},
        "policy": {"cash_flow": 10_000.0}}
    report = service.rebalance_report(data)
    assert [(t.action, t.units) for t in report.trades] == [("BUY", 14.0), ("BUY", 39.0)]
    assert report.trades == service.rebalance(data).trades
    assert report.risk is None and report.stress is None
    assert any("holds nothing before the trades" in w for w in report.warnings)



def test_an_unfundable_buy_says_there_is_no_cash_not_that_it_is_below_a_lot() -> None:
    """B is 8 pp under target but A and C are overweight only within their bands and there is no
    cash: only out-of-band positions trade, so B cannot be funded — and the reason says why."""
    portfolio = Portfolio(holdings=[
        Holding(symbol="A", asset_class="stock", quantity=3_400, price=1.0, target_weight=0.3),
        Holding(symbol="B", asset_class="stock", quantity=3_200, price=1.0, target_weight=0.4),
        Holding(symbol="C", asset_class="stock", quantity=3_400, price=1.0, target_weight=0.3),
    ])
    result = rebalance(portfolio, RebalancePolicy(band=Band(kind="absolute", width=0.05)))
    _, b, _ = result.trades
    assert [t.action for t in result.trades] == ["HOLD", "HOLD", "HOLD"]
    assert b.reason == ("drift -8.0 pp outside ±5.0 pp band; not traded: no cash available above the reserve "
                        "(in-band positions are held)")
    assert "cash" in result.totals.limits_bound


def test_a_reserve_as_large_as_the_portfolio_is_refused_at_the_field() -> None:
    from engine.errors import InvalidRequest

    portfolio = {"holdings": [{"symbol": "A", "asset_class": "stock", "quantity": 10, "price": 100.0,
                               "target_weight": 1.0}], "cash": 0.0}
    with pytest.raises(InvalidRequest) as info:
        service.rebalance({"portfolio": portfolio, "policy": {"cash_reserve": 1_500.0, "cash_flow": 400.0}})
    assert info.value.details == [{
        "loc": ["policy", "cash_reserve"], "type": "value_error",
        "msg": "cash reserve 1,500.00 is not below the portfolio's value after the cash flow (1,400.00); "
               "nothing could stay invested"}]
