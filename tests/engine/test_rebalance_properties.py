"""Invariants of the rebalancer over random portfolios and policies (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.rebalance import rebalance
from engine.schemas import ASSET_CLASSES, Band, Holding, Portfolio, RebalancePolicy

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    n = draw(st.integers(1, 8))
    raw = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    if sum(raw) == 0:
        raw[0] = 1.0
    targets = [x / sum(raw) for x in raw]
    targets[-1] = max(0.0, 1.0 - sum(targets[:-1]))
    holdings = []
    for i in range(n):
        cls = draw(st.sampled_from(ASSET_CLASSES))
        unit = draw(st.one_of(st.none(), st.sampled_from([1.0, 0.1, 0.001, 1e-8, 5.0])))
        holdings.append(Holding(
            symbol=f"H{i}", asset_class=cls, trade_unit=unit, target_weight=min(targets[i], 1.0),
            price=draw(st.floats(0.5, 70_000.0)), quantity=draw(st.one_of(st.just(0.0), st.floats(0.0, 5_000.0))),
        ))
    return Portfolio(holdings=holdings, cash=draw(st.one_of(st.just(0.0), st.floats(0.0, 200_000.0))))


@st.composite
def policies(draw: st.DrawFn, flows: bool = True) -> RebalancePolicy:
    band = Band(kind=draw(st.sampled_from(["absolute", "relative"])), width=draw(st.floats(0.0, 0.3)))
    return RebalancePolicy(
        band=band,
        band_by_class=draw(st.dictionaries(st.sampled_from(ASSET_CLASSES),
                                           st.builds(Band, width=st.floats(0.0, 0.2)), max_size=2)),
        rebalance_to=draw(st.sampled_from(["target", "band_edge"])),
        turnover_limit=draw(st.one_of(st.none(), st.floats(0.001, 1.0))),
        cost_bps=draw(st.floats(0.0, 100.0)),
        cost_bps_by_class=draw(st.dictionaries(st.sampled_from(ASSET_CLASSES), st.floats(0.0, 50.0), max_size=2)),
        cash_flow=draw(st.floats(-300_000.0, 300_000.0)) if flows and draw(st.booleans()) else 0.0,
        cash_reserve=draw(st.one_of(st.just(0.0), st.floats(0.0, 50_000.0))),
        min_trade_value=draw(st.one_of(st.just(0.0), st.floats(0.0, 5_000.0))),
    )


def _tol(p: Portfolio, policy: RebalancePolicy) -> float:
    return 1e-9 * max(1.0, p.total_value + abs(policy.cash_flow))


@SETTINGS
@given(portfolios(), policies())
def test_money_lots_and_limits(p: Portfolio, policy: RebalancePolicy) -> None:
    r = rebalance(p, policy)
    t, tol = r.totals, _tol(p, policy)
    buys = sum(x.trade_value for x in r.trades if x.action == "BUY")
    sells = sum(x.trade_value for x in r.trades if x.action == "SELL")
    costs = sum(x.cost for x in r.trades)
    # Buys are funded by sells, cash and the cash flow, net of costs; the books balance.
    assert math.isclose(t.residual_cash, p.cash + t.cash_flow + sells - buys - costs, rel_tol=1e-9, abs_tol=tol)
    assert t.residual_cash >= min(p.cash, policy.cash_reserve) - tol
    if buys > 0:
        assert t.residual_cash >= policy.cash_reserve - tol  # the reserve is never spent
    assert policy.cash_flow <= t.cash_flow <= 0 or t.cash_flow == policy.cash_flow
    if policy.turnover_limit is not None:
        assert t.turnover <= policy.turnover_limit + 1e-12
    assert math.isclose(sum(r.post_trade_weights.values()), 1.0, abs_tol=1e-9)
    for h, line in zip(p.holdings, r.trades, strict=True):
        unit = h.effective_trade_unit
        assert line.post_trade_quantity >= 0
        lots = line.units / unit
        assert abs(lots - round(lots)) <= 1e-6 * max(1.0, lots)
        if line.action == "SELL":
            assert line.units <= math.floor(h.quantity / unit + 1e-9) * unit * (1 + 1e-12)
        if line.action != "HOLD":
            assert line.units > 0 and line.trade_value >= policy.min_trade_value * (1 - 1e-12)
        else:
            assert line.units == 0
        assert math.isclose(line.trade_value, line.units * line.price, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(line.cost, line.trade_value * line.cost_bps / 1e4, rel_tol=1e-9, abs_tol=1e-12)


@SETTINGS
@given(portfolios(), policies(flows=False))
def test_in_band_positions_hold_without_a_cash_flow(p: Portfolio, policy: RebalancePolicy) -> None:
    r = rebalance(p, policy)
    for line in r.trades:
        if line.in_band:
            assert line.action == "HOLD", line.reason
    assert r.totals.cash_flow == 0.0


@SETTINGS
@given(portfolios(), st.floats(1.0, 100_000.0))
def test_a_deposit_only_buys_and_a_withdrawal_only_sells_when_all_is_in_band(p: Portfolio, amount: float) -> None:
    wide = Band(width=1.0)  # nothing is out of band, so every trade is the cash flow's
    deposit = rebalance(p, RebalancePolicy(band=wide, cash_flow=amount))
    assert all(x.action in ("BUY", "HOLD") for x in deposit.trades)
    withdrawal = rebalance(p, RebalancePolicy(band=wide, cash_flow=-amount))
    assert all(x.action in ("SELL", "HOLD") for x in withdrawal.trades)
    value_after_flow = deposit.totals.portfolio_value + deposit.totals.cash_flow
    for line in deposit.trades:
        if line.action != "BUY":
            continue
        # A deposit buys only what is under target, and never past the target.
        assert line.drift < 0, line.reason
        target_value = (line.effective_target_weight or 0.0) * value_after_flow
        assert line.post_trade_value <= target_value * (1 + 1e-9) + 1e-6, line.reason
