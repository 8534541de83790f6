"""Simulated fills and TCA: a hand-computed zero-noise case, invariants, flag thresholds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidRequest
from engine.execution import MAX_SLIPPAGE_BPS, simulate_execution
from engine.rebalance import rebalance
from engine.schemas import Portfolio, RebalancePolicy, RebalanceResult, RebalanceTotals, TradeLine
from engine.schemas.execution import DEFAULT_HALF_SPREAD_BPS, ExecutionSettings


def _line(symbol: str, asset_class: str, action: str, units: float, price: float, cost_bps: float) -> TradeLine:
    value = units * price
    return TradeLine(
        symbol=symbol, name=symbol, asset_class=asset_class, action=action, price=price, current_quantity=0.0,
        current_value=0.0, current_weight=0.0, target_weight=0.0, drift=0.0, band_low=0.0, band_high=0.0,
        in_band=action == "HOLD", units=units, trade_value=value, cost=value * cost_bps / 1e4, cost_bps=cost_bps,
        trade_unit=1.0, post_trade_quantity=0.0, post_trade_value=0.0, post_trade_weight=0.0,
        post_trade_drift=0.0, reason="test")


def _proposal(lines: list[TradeLine]) -> RebalanceResult:
    totals = RebalanceTotals(
        portfolio_value=1.0, post_trade_value=1.0, cash_before=0.0, cash_flow=0.0, cash_reserve=0.0, buy_value=0.0,
        sell_value=0.0, turnover=0.0, turnover_limit=None, total_cost=0.0, residual_cash=0.0,
        residual_cash_weight=0.0, n_trades=sum(t.action != "HOLD" for t in lines))
    return RebalanceResult(trades=lines, totals=totals, post_trade_weights={"CASH": 1.0})


@pytest.fixture(scope="module")
def proposal() -> RebalanceResult:
    # 60/40 against 50/50 targets: sell 10 AAA (nearest lot of 1,001 / 100), buy 19 BBB (floor of 999 / 50).
    portfolio = Portfolio(holdings=[
        {"symbol": "AAA", "asset_class": "etf", "quantity": 60, "price": 100.0, "target_weight": 0.5},
        {"symbol": "BBB", "asset_class": "stock", "quantity": 80, "price": 50.0, "target_weight": 0.5}])
    return rebalance(portfolio, RebalancePolicy(cost_bps=10.0))


ZERO_NOISE = {"impact_noise": 0.0, "adv_by_symbol": {"AAA": 100_000.0, "BBB": 23_750.0}}


def test_zero_noise_fills_by_hand(proposal):
    assert [(t.action, t.units) for t in proposal.trades] == [("SELL", 10.0), ("BUY", 19.0)]
    report = simulate_execution(proposal, ZERO_NOISE)
    sell, buy = report.fills
    # AAA: 1,000 of 100,000 ADV -> participation 1 %, impact 30 * 0.1 = 3 bps, half-spread 1 bp:
    # fill 100 * (1 - 4e-4) = 99.96, fill value 999.60, commission 10 bps of it = 0.9996,
    # shortfall (1,000 - 999.60) + 0.9996 = 1.3996 = 13.996 bps; estimate 1.00.
    assert (sell.participation, sell.impact_bps, sell.fill_price) == pytest.approx((0.01, 3.0, 99.96))
    assert (sell.commission, sell.shortfall, sell.shortfall_bps) == pytest.approx((0.9996, 1.3996, 13.996))
    assert (sell.spread_cost, sell.impact_cost, sell.estimated_cost) == pytest.approx((0.1, 0.3, 1.0))
    assert sell.slippage_bps == pytest.approx(4.0)
    # BBB: 950 of 23,750 -> 4 %, impact 50 * 0.2 = 10 bps, half-spread 2.5 bps: fill 50 * 1.00125 = 50.0625,
    # fill value 951.1875, commission 0.95119, shortfall 1.1875 + 0.9511875 = 2.1386875 = 22.5125 bps.
    assert (buy.participation, buy.impact_bps, buy.fill_price) == pytest.approx((0.04, 10.0, 50.0625))
    assert (buy.commission, buy.shortfall, buy.shortfall_bps) == pytest.approx((0.9511875, 2.1386875, 22.5125))
    assert buy.cost_difference == pytest.approx(2.1386875 - 0.95)
    t = report.totals
    assert (t.decision_value, t.shortfall) == pytest.approx((1_950.0, 1.3996 + 2.1386875))
    assert t.shortfall_bps == pytest.approx((1.3996 + 2.1386875) / 1_950 * 1e4)
    assert t.slippage_bps == pytest.approx((4.0 * 1_000 + 12.5 * 950) / 1_950)
    assert report.flags == [] and report.seed == 0


def test_flags_fire_strictly_past_their_thresholds(proposal):
    def flags(**kw):
        return [(f.code, f.symbol) for f in simulate_execution(proposal, {**ZERO_NOISE, **kw}).flags]

    assert flags(line_shortfall_bps_limit=22.5125 + 1e-6) == []
    assert flags(line_shortfall_bps_limit=22.5) == [("line_shortfall", "BBB")]
    assert flags(line_shortfall_bps_limit=13.9) == [("line_shortfall", "AAA"), ("line_shortfall", "BBB")]
    total = (1.3996 + 2.1386875) / 1_950 * 1e4  # 18.1443 bps
    assert flags(total_shortfall_bps_limit=total + 1e-6) == []
    assert flags(total_shortfall_bps_limit=18.0) == [("total_shortfall", None)]
    assert flags(participation_limit=0.04) == []
    assert flags(participation_limit=0.02) == [("participation", "BBB")]
    # BBB costs 2.14 against an estimate of 0.95: 2.25x, 1.19 over.
    assert flags(cost_overrun_ratio=2.2, cost_overrun_min=1.0) == [("cost_overrun", "BBB")]
    assert flags(cost_overrun_ratio=2.3, cost_overrun_min=1.0) == []
    assert flags(cost_overrun_ratio=2.2, cost_overrun_min=1.2) == []
    report = simulate_execution(proposal, {**ZERO_NOISE, "line_shortfall_bps_limit": 20.0})
    assert "22.5 bps exceeds the 20 bps limit" in report.flags[0].reason


def test_deterministic_for_a_seed_and_noise_moves_only_impact(proposal):
    a = simulate_execution(proposal, {"seed": 5})
    assert a == simulate_execution(proposal, {"seed": 5})
    b = simulate_execution(proposal, {"seed": 6})
    assert [f.impact_bps for f in a.fills] != [f.impact_bps for f in b.fills]
    assert [f.half_spread_bps for f in a.fills] == [f.half_spread_bps for f in b.fills]


def test_hold_only_proposal_and_settings_defaults():
    report = simulate_execution(_proposal([_line("X", "etf", "HOLD", 0.0, 10.0, 10.0)]))
    assert report.fills == [] and report.flags == []
    assert report.totals.n_fills == 0 and report.totals.shortfall_bps is None
    s = ExecutionSettings.model_validate({"half_spread_bps": {"crypto": 30.0}})
    assert s.half_spread_bps == {**DEFAULT_HALF_SPREAD_BPS, "crypto": 30.0}
    assert DEFAULT_HALF_SPREAD_BPS["crypto"] > DEFAULT_HALF_SPREAD_BPS["mutual_fund"] > DEFAULT_HALF_SPREAD_BPS["etf"]
    with pytest.raises(InvalidRequest) as err:
        simulate_execution(_proposal([]), {"impact_noise": -1.0})
    assert err.value.details[0]["loc"] == ["impact_noise"]


def test_huge_trade_is_capped_and_sells_stay_positive():
    report = simulate_execution(_proposal([_line("BTC", "crypto", "SELL", 1e8, 30_000.0, 10.0)]), {"impact_noise": 0.0})
    fill = report.fills[0]
    assert fill.half_spread_bps + fill.impact_bps == pytest.approx(MAX_SLIPPAGE_BPS)
    assert fill.fill_price == pytest.approx(15_000.0) and report.warnings


def test_commission_comes_from_the_policy_unless_overridden(proposal):
    assert [f.commission_bps for f in simulate_execution(proposal).fills] == [10.0, 10.0]
    report = simulate_execution({"proposal": proposal.model_dump(), "settings": {"commission_bps": {"stock": 2.0}}})
    assert [f.commission_bps for f in report.fills] == [10.0, 2.0]


lines = st.lists(
    st.tuples(st.sampled_from(["etf", "stock", "mutual_fund", "bond", "commodity", "fx", "crypto", "cash"]),
              st.sampled_from(["BUY", "SELL"]),
              st.floats(1e-3, 1e6), st.floats(1e-2, 1e5), st.floats(0.0, 100.0)),
    min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(lines=lines, seed=st.integers(0, 2**32), noise=st.floats(0.0, 2.0))
def test_invariants(lines, seed, noise):
    proposal = _proposal([_line(f"S{i}", c, a, u, p, bps) for i, (c, a, u, p, bps) in enumerate(lines)])
    report = simulate_execution(proposal, {"seed": seed, "impact_noise": noise})
    for f in report.fills:
        if f.action == "BUY":
            assert f.fill_price >= f.decision_price
            assert f.shortfall == pytest.approx((f.fill_price - f.decision_price) * f.units + f.commission, rel=1e-9)
        else:
            assert 0 < f.fill_price <= f.decision_price
            assert f.shortfall == pytest.approx((f.decision_price - f.fill_price) * f.units + f.commission, rel=1e-9)
        assert f.shortfall >= 0 and f.slippage_bps >= 0 and f.impact_bps >= 0
        assert f.shortfall == pytest.approx(f.simulated_cost, rel=1e-9, abs=1e-9)
        assert f.simulated_cost == pytest.approx(f.commission + f.spread_cost + f.impact_cost)
    t = report.totals
    assert t.shortfall == pytest.approx(sum(f.shortfall for f in report.fills))
    assert t.buy_value + t.sell_value == pytest.approx(t.decision_value)
    assert t.shortfall_bps is not None and t.shortfall_bps >= 0
