"""Backtests: hand-computed synthetic cases, the live rebalancer's rules, no look-ahead, real data."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from engine.backtest import run_backtest
from engine.errors import Cancelled, InvalidRequest
from engine.market_data import MarketData, load_sample_portfolio
from engine.rebalance import rebalance
from engine.schemas import Band, Portfolio, RebalancePolicy

MONTH_ENDS = pd.to_datetime(["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30", "2020-05-31", "2020-06-30"])
AAA = [100.0, 120.0, 90.0, 110.0, 130.0, 150.0]
BBB = [50.0, 50.0, 55.0, 50.0, 52.0, 50.0]


def _market(series: dict[str, list[float]], dates: pd.DatetimeIndex = MONTH_ENDS) -> MarketData:
    return MarketData.bundled().with_user_series({k: pd.Series(v, index=dates) for k, v in series.items()}, "test")


def _portfolio(prices: dict[str, float], targets: dict[str, float] | None = None, qty: float = 1.0) -> Portfolio:
    targets = targets or {s: 1 / len(prices) for s in prices}
    return Portfolio(holdings=[{"symbol": s, "asset_class": "etf", "quantity": qty, "price": p,
                                "target_weight": targets[s]} for s, p in prices.items()])


@pytest.fixture(scope="module")
def two_assets() -> tuple[MarketData, Portfolio]:
    # Holdings are priced at the last price, so the replayed prices are the series' own.
    return _market({"AAA": AAA, "BBB": BBB}), _portfolio({"AAA": 150.0, "BBB": 50.0})


def _run(two_assets, policies, cost_bps=0.0, **kw):
    market, portfolio = two_assets
    request = {"portfolio": portfolio.model_dump(), "policy": {"cost_bps": cost_bps}, "initial_value": 10_000.0,
               "policies": policies, **kw}
    return run_backtest(request, market=market)


def test_two_assets_by_hand_without_and_with_costs(two_assets):
    # Start: 10,000 at 50/50 -> 50 AAA @100 and 100 BBB @50, no cash.
    # 31 Mar: AAA 4,500, BBB 5,500 -> sell 9 BBB (nearest lot of 500/55) = 495, buy 5 AAA (floor 500/90) = 450;
    #         cash 45, so Apr = 55*110 + 91*50 + 45 = 10,645 and May = 55*130 + 91*52 + 45 = 11,927.
    # 30 Jun: the post-trade value equals the pre-trade value 55*150 + 91*50 + 45 = 12,845 (no cost).
    free = _run(two_assets, [{"kind": "buy_and_hold"}, {"kind": "calendar", "frequency": "quarterly"}])
    hold, quarterly = free.policies
    assert free.start == dt.date(2020, 1, 31) and free.end == dt.date(2020, 6, 30)
    assert hold.equity.values == pytest.approx([10_000, 11_000, 10_000, 10_500, 11_700, 12_500], rel=1e-12)
    assert quarterly.equity.values == pytest.approx([10_000, 11_000, 10_000, 10_645, 11_927, 12_845], rel=1e-12)
    assert [e.date for e in quarterly.rebalances] == [dt.date(2020, 3, 31), dt.date(2020, 6, 30)]
    assert quarterly.rebalances[0].turnover == pytest.approx(450 / 10_000)
    # 1 % costs. Mar: the same lots (goals are set net of the 10.00 of costs: buy 495 -> 5 lots, sell 505 ->
    # 9 lots); costs 4.50 + 4.95 = 9.45, cash 35.55. Jun: value 12,835.55, sell 12 AAA (1,800, cost 18) and
    # 36 BBB leave cash 0.45 short, so the buy is trimmed to 35 (1,750, cost 17.50): end 12,835.55 - 35.50.
    paid = _run(two_assets, [{"kind": "calendar", "frequency": "quarterly"}], cost_bps=100.0).policies[0]
    assert paid.equity.values == pytest.approx([10_000, 11_000, 9_990.55, 10_635.55, 11_917.55, 12_800.05], rel=1e-12)
    assert [e.cost for e in paid.rebalances] == pytest.approx([9.45, 35.50])
    # Same lots until the last decision: costs lower the end value by exactly what they sum to.
    assert quarterly.end_value - paid.end_value == pytest.approx(paid.total_costs, abs=1e-9)
    assert paid.total_costs == pytest.approx(44.95)


def test_buy_and_hold_never_trades_and_matches_direct_valuation(two_assets):
    hold = _run(two_assets, [{"kind": "buy_and_hold"}], cost_bps=50.0).policies[0]
    assert (hold.total_turnover, hold.annualised_turnover, hold.total_costs) == (0.0, 0.0, 0.0)
    assert (hold.n_rebalances, hold.n_decisions, hold.n_trades) == (0, 0, 0)
    expected = 50 * np.array(AAA) + 100 * np.array(BBB)
    np.testing.assert_allclose(hold.equity.values, expected, rtol=1e-12)
    assert hold.total_return == pytest.approx(12_500 / 10_000 - 1)


def test_calendar_trades_at_least_as_often_as_threshold(two_assets):
    res = _run(two_assets, [{"kind": "calendar", "frequency": "monthly"},
                            {"kind": "threshold", "band": {"width": 0.04}},
                            {"kind": "threshold", "name": "wide", "band": {"width": 0.2}}], cost_bps=10.0)
    monthly, narrow, wide = res.policies
    assert monthly.n_decisions == 5 and monthly.n_rebalances == 5
    # Feb 54.5 %, Mar, Apr out of a ±4 pp band; May back in band (no trade); Jun out again.
    assert [e.date.month for e in narrow.rebalances] == [2, 3, 4, 6]
    assert narrow.n_rebalances < monthly.n_rebalances
    assert wide.n_rebalances == 0 and wide.end_value == res.policies[0].equity.values[0] * 1.25


def _random_market(seed: int, n_assets: int = 3, months: int = 48) -> tuple[MarketData, Portfolio]:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2010-01-31", periods=months, freq="ME")
    paths = {f"S{i}": 20.0 * (i + 1) * np.cumprod(1 + rng.normal(0.005, 0.05, months)) for i in range(n_assets)}
    market = _market({k: v.tolist() for k, v in paths.items()}, dates)
    targets = dict(zip(paths, rng.dirichlet(np.ones(n_assets)).round(6), strict=True))
    targets["S0"] += 1 - sum(targets.values())
    portfolio = _portfolio({k: float(v[-1]) for k, v in paths.items()}, targets)
    # About 1,000,000 at target at the start, in whole shares: lots are fine enough to trade.
    qty = {k: float(np.floor(1e6 * targets[k] / v[0])) for k, v in paths.items()}
    return market, portfolio.model_copy(update={"holdings": [h.model_copy(update={"quantity": qty[h.symbol]})
                                                             for h in portfolio.holdings]})


@pytest.mark.parametrize("band", [Band(width=0.03), Band(kind="relative", width=0.15)])
def test_threshold_equals_consulting_the_rebalancer_every_period(band):
    # The vectorised band check only skips calls; a loop that asks rebalance() every month must agree.
    market, portfolio = _random_market(7, n_assets=5, months=120)
    policy = RebalancePolicy(band=band, cost_bps=25.0, turnover_limit=0.2)
    res = run_backtest({"portfolio": portfolio, "policy": policy, "policies": [{"kind": "threshold"}],
                        "initial": "holdings"}, market=market)
    prices = np.column_stack([market.prices(h.symbol).to_numpy() for h in portfolio.holdings])
    qty = np.array([h.quantity for h in portfolio.holdings])
    cash, equity = 0.0, [float(prices[0] @ qty)]
    for row in range(1, len(prices)):
        p = portfolio.model_copy(update={"cash": cash, "holdings": [
            h.model_copy(update={"quantity": float(q), "price": float(x)})
            for h, q, x in zip(portfolio.holdings, qty, prices[row], strict=True)]})
        out = rebalance(Portfolio.model_validate(p.model_dump()), policy)
        qty = np.array([t.post_trade_quantity for t in out.trades])
        cash = out.totals.residual_cash
        equity.append(float(prices[row] @ qty + cash))
    assert res.policies[0].n_rebalances > 0 and res.policies[0].n_decisions < 100  # the check skipped most months
    np.testing.assert_allclose(res.policies[0].equity.values, equity, rtol=1e-10)


def test_targets_fn_sees_only_data_up_to_the_decision_date():
    market, portfolio = _random_market(11, months=36)
    seen: list[tuple[dt.date, pd.Timestamp]] = []

    def targets(as_of: dt.date, returns: pd.DataFrame) -> dict[str, float]:
        seen.append((as_of, returns.index[-1]))
        momentum = (1 + returns.tail(3)).prod()
        w = momentum / momentum.sum()
        return {k: float(v) for k, v in w.items()}

    request = {"policies": [{"kind": "targets"}], "initial_value": 100_000.0}
    res = run_backtest({"portfolio": portfolio, **request}, market=market, targets_fn=targets)
    assert len(seen) == res.policies[0].n_decisions == 35
    assert all(last.date() == as_of for as_of, last in seen)
    # Change every price after 2011-06-30 (and the holdings' prices with them): nothing up to then moves.
    cut = pd.Timestamp("2011-06-30")
    changed = {h.symbol: market.prices(h.symbol).where(lambda s: s.index <= cut, lambda s: s * 1.7)
               for h in portfolio.holdings}
    other = MarketData.bundled().with_user_series(changed, "test")
    moved = portfolio.model_copy(update={"holdings": [h.model_copy(update={"price": float(changed[h.symbol].iloc[-1])})
                                                      for h in portfolio.holdings]})
    seen_before = list(seen)
    seen.clear()
    res2 = run_backtest({"portfolio": moved, **request}, market=other, targets_fn=targets)
    k = res.policies[0].equity.dates.index(cut.date())
    np.testing.assert_allclose(res2.policies[0].equity.values[:k + 1], res.policies[0].equity.values[:k + 1], rtol=1e-9)
    assert res2.policies[0].equity.values[-1] != pytest.approx(res.policies[0].equity.values[-1])
    assert [s for s in seen if s[0] <= cut.date()] == [s for s in seen_before if s[0] <= cut.date()]


def test_target_path_and_fallbacks(two_assets):
    path = [{"date": "2020-03-15", "weights": {"AAA": 0.8, "BBB": 0.2}}]
    res = _run(two_assets, [{"kind": "targets", "target_path": path, "frequency": "monthly"}])
    pol = res.policies[0]
    # Feb: before the first point -> strategic 50/50; from Mar on: 80/20.
    assert pol.n_target_fallbacks == 1 and pol.warnings
    market, portfolio = two_assets
    by_fn = run_backtest({"portfolio": portfolio, "initial_value": 10_000.0, "policy": {"cost_bps": 0.0},
                          "policies": [{"kind": "targets"}]}, market=market,
                         targets_fn=lambda d, r: None if d < dt.date(2020, 3, 15) else {"aaa": 0.8, "BBB": 0.2})
    assert by_fn.policies[0].equity.values == pytest.approx(pol.equity.values, rel=1e-12)


def test_bad_requests_name_the_field(two_assets):
    market, portfolio = two_assets
    base = {"portfolio": portfolio.model_dump()}
    with pytest.raises(InvalidRequest) as err:
        run_backtest({**base, "policy": {"cash_flow": 100.0}}, market=market)
    assert err.value.details[0]["loc"] == ["policy"]
    with pytest.raises(InvalidRequest) as err:
        run_backtest({**base, "policies": [{"kind": "targets"}]}, market=market)
    assert err.value.details[0]["loc"] == ["policies", 0, "target_path"]
    with pytest.raises(InvalidRequest) as err:
        run_backtest({**base, "policies": [{"kind": "calendar"}]}, market=market)
    assert err.value.details[0]["loc"] == ["policies", 0]
    with pytest.raises(InvalidRequest, match=r"sum to 1\.2"):
        run_backtest({**base, "policies": [{"kind": "targets"}]}, market=market,
                     targets_fn=lambda d, r: {"AAA": 0.6, "BBB": 0.6})
    with pytest.raises(InvalidRequest, match="unknown symbol 'ZZZ'"):
        run_backtest({**base, "policies": [{"kind": "targets"}]}, market=market, targets_fn=lambda d, r: {"ZZZ": 1.0})


def test_window_holdings_start_progress_and_cancel(two_assets):
    market, portfolio = two_assets
    done: list[float] = []
    res = run_backtest({"portfolio": portfolio, "initial": "holdings", "start": "2020-02-29"}, market=market,
                       progress=done.append)
    assert res.start == dt.date(2020, 2, 29) and res.window.n_periods == 4
    assert any("backtest window is shorter than one year (2020-02-29 to 2020-06-30)" in w for w in res.warnings)
    assert res.initial_value == pytest.approx(120.0 + 50.0) and done[-1] == 1.0 and len(res.policies) == 5
    with pytest.raises(Cancelled):
        run_backtest({"portfolio": portfolio}, market=market, cancel=lambda: True)


# --- real data ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classic() -> Portfolio:
    return load_sample_portfolio("P1_CLASSIC_60_40")


def test_classic_60_40_pinned_and_cross_checked(classic):
    res = run_backtest({"portfolio": classic})
    assert (res.start, res.end, res.window.frequency, res.window.n_periods) == (
        dt.date(2006, 11, 1), dt.date(2016, 9, 30), "daily", 2495)
    pinned = {  # name: (end value, total turnover, total costs, rebalances)
        "Buy and hold": (178_850.24281200022, 0.0, 0.0, 0),
        "Calendar (monthly)": (182_690.15910403925, 0.9646021512800979, 227.44412696099985, 109),
        "Calendar (quarterly)": (184_782.64118166023, 0.6377094392185038, 146.6179183399999, 37),
        "Calendar (annual)": (187_573.8929580402, 0.3366722482476248, 77.98229196, 10),
        "Threshold bands": (186_808.22361872025, 1.015341499471923, 217.63328328, 47),
    }
    got = {p.name: (p.end_value, p.total_turnover, p.total_costs, p.n_rebalances) for p in res.policies}
    assert got.keys() == pinned.keys()
    for name, values in pinned.items():
        assert got[name] == pytest.approx(values, rel=1e-9), name

    # Independent: buy and hold straight from the raw SPY/AGG closes.
    m = MarketData.bundled()
    p0 = np.array([m.prices("SPY").loc["2006-11-01"], m.prices("AGG").loc["2006-11-01"]])
    p1 = np.array([m.prices("SPY").loc["2016-09-30"], m.prices("AGG").loc["2016-09-30"]])
    value = classic.total_value
    qty = np.floor(value * np.array([0.6, 0.4]) / p0)
    assert res.initial_value == pytest.approx(value, rel=1e-12)
    assert res.policies[0].end_value == pytest.approx(float(qty @ p1 + value - qty @ p0), rel=1e-12)

    for p in res.policies:
        eq = np.array(p.equity.values)
        years = (len(eq) - 1) / 252
        assert p.cagr == pytest.approx((eq[-1] / eq[0]) ** (1 / years) - 1, rel=1e-10)
        assert p.max_drawdown == pytest.approx(float(np.max(1 - eq / np.maximum.accumulate(eq))), rel=1e-12)
        assert p.total_costs == pytest.approx(sum(e.cost for e in p.rebalances))
        assert p.annualised_turnover == pytest.approx(p.total_turnover / years)


def test_classic_monthly_without_frictions_is_the_constant_mix(classic):
    # Tiny lots and no costs: a monthly calendar rebalance is the 60/40 constant mix reset at each
    # month's last trading day, computed here from the raw closes with pandas.
    fine = classic.model_copy(update={"holdings": [h.model_copy(update={"trade_unit": 1e-7}) for h in classic.holdings]})
    res = run_backtest({"portfolio": fine, "policy": {"cost_bps": 0.0},
                        "policies": [{"kind": "calendar", "frequency": "monthly"}]})
    m = MarketData.bundled()
    px = pd.concat([m.prices("SPY"), m.prices("AGG")], axis=1).loc["2006-11-01":"2016-09-30"].ffill()
    month_end = px.groupby(px.index.to_period("M")).tail(1)
    marks = pd.concat([px.iloc[:1], month_end])
    growth = (marks / marks.shift(1)).iloc[1:].to_numpy() @ np.array([0.6, 0.4])
    expected = classic.total_value * float(np.prod(growth))
    assert res.policies[0].end_value == pytest.approx(expected, rel=2e-7)
    assert res.policies[0].n_rebalances == len(month_end)
    assert math.isclose(res.policies[0].total_costs, 0.0)
