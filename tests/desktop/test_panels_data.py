"""Result models with known numbers for the panel tests (built directly, no engine run).

The numbers are realistic (a 60/40-style portfolio of $250,000) and chosen so that every
figure a panel shows can be checked by hand. No tests live here; the builders are imported.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from engine.schemas.results import (
    AssetScenarioImpact,
    CorrelationMatrix,
    DataWindow,
    FanChart,
    MonteCarloResult,
    RebalanceResult,
    RebalanceTotals,
    RiskContribution,
    RiskMetrics,
    RiskReport,
    RiskSide,
    ScenarioResult,
    SeriesPoint,
    TradeLine,
)


def trade(symbol: str, action: str, units: float, price: float, current: float, target: float,
          post: float, *, in_band: bool, reason: str, cost_bps: float = 10.0, unit: float = 1.0) -> TradeLine:
    value = units * price
    return TradeLine(
        symbol=symbol, name=f"{symbol} Inc.", asset_class="etf", action=action, price=price,
        current_quantity=current * 250_000 / price, current_value=current * 250_000, current_weight=current,
        target_weight=target, drift=current - target, band_low=target - 0.02, band_high=target + 0.02,
        in_band=in_band, units=units, trade_value=value, cost=value * cost_bps / 10_000, cost_bps=cost_bps,
        trade_unit=unit, post_trade_quantity=post * 250_000 / price, post_trade_value=post * 250_000,
        post_trade_weight=post, post_trade_drift=post - target, reason=reason,
    )


def rebalance_result(*, limits: list[str] | None = None, all_hold: bool = False) -> RebalanceResult:
    if all_hold:
        trades = [trade("SPY", "HOLD", 0, 400.0, 0.60, 0.60, 0.60, in_band=True, reason="within band"),
                  trade("AGG", "HOLD", 0, 100.0, 0.40, 0.40, 0.40, in_band=True, reason="within band")]
    else:
        trades = [
            trade("SPY", "SELL", 125, 400.0, 0.62, 0.60, 0.60, in_band=False, reason="drift +2.0 pp outside band; sold"),
            trade("AGG", "BUY", 480, 100.0, 0.33, 0.35, 0.3492, in_band=False, reason="drift -2.0 pp; bought"),
            trade("GLD", "HOLD", 0, 180.0, 0.05, 0.05, 0.05, in_band=True, reason="within band"),
            trade("BTC", "BUY", 0.01234567, 40_000.0, 0.0, 0.0, 0.002, in_band=True, reason="new position",
                  unit=1e-8),
        ]
    totals = RebalanceTotals(
        portfolio_value=250_000.0, post_trade_value=249_940.0, cash_before=0.0, cash_flow=0.0, cash_reserve=0.0,
        buy_value=48_493.83, sell_value=50_000.0, turnover=0.19397532, turnover_limit=0.25,
        total_cost=98.49, residual_cash=1_408.0, residual_cash_weight=0.0056332, n_trades=3,
        limits_bound=limits or [], turnover_limit_bound="turnover_limit" in (limits or []),
    )
    weights = {t.symbol: t.post_trade_weight for t in trades}
    weights["CASH"] = 0.0056332
    return RebalanceResult(trades=trades, totals=totals, post_trade_weights=weights, warnings=[])


DATES = [dt.date(2024, 1, 2) + dt.timedelta(days=k) for k in range(0, 10)]


def _side(weights: dict[str, float], scale: float, metrics: RiskMetrics) -> RiskSide:
    cum = [scale * v for v in (0.0, 0.01, 0.005, 0.02, 0.018, 0.03, 0.025, 0.04, 0.035, 0.05)]
    dd = [0.0, 0.0, 0.00495, 0.0, 0.00196, 0.0, 0.00485, 0.0, 0.00481, 0.0]
    contributions = [RiskContribution(symbol=s, weight=w, contribution=w * 0.1, contribution_pct=w)
                     for s, w in weights.items()]
    return RiskSide(weights=weights, metrics=metrics, contributions=contributions,
                    cumulative_return=SeriesPoint(dates=DATES, values=cum),
                    drawdown=SeriesPoint(dates=DATES, values=[scale * d for d in dd]))


def risk_report(*, with_after: bool = True) -> RiskReport:
    before = RiskMetrics(volatility=0.1234, expected_annual_return=0.0712, cagr=0.068, sharpe=0.8551,
                         sortino=1.2, max_drawdown=0.2346, var_95=0.0156, cvar_95=0.0221,
                         tracking_error=None, information_ratio=None, beta=None)
    after = before.model_copy(update={"volatility": 0.1111, "max_drawdown": 0.2001, "sharpe": 0.9})
    return RiskReport(
        before=_side({"SPY": 0.62, "AGG": 0.33, "GLD": 0.05}, 1.0, before),
        after=_side({"SPY": 0.60, "AGG": 0.35, "GLD": 0.05}, 0.9, after) if with_after else None,
        benchmark=None,
        window=DataWindow(start=DATES[0], end=DATES[-1], n_periods=10, frequency="daily", periods_per_year=252),
        correlation=CorrelationMatrix(symbols=["SPY", "AGG", "GLD"],
                                      matrix=[[1.0, -0.25, 0.1], [-0.25, 1.0, None], [0.1, None, 1.0]]),
        proxies={"GLD": "GOLD"}, uncovered=["XYZ"], warnings=["the window is shorter than one year"],
    )


def monte_carlo_result(*, seed: int = 7) -> MonteCarloResult:
    horizon, p = 24, 12
    steps = np.arange(horizon + 1)
    percentiles = [5.0, 25.0, 50.0, 75.0, 95.0]
    bands = [(100_000 * (1 + (q - 50) / 500 * np.sqrt(steps) + 0.004 * steps)).tolist() for q in percentiles]
    edges = np.linspace(60_000, 160_000, 11).tolist()
    counts = [5, 20, 60, 150, 250, 260, 150, 70, 25, 10]
    return MonteCarloResult(
        method="block_bootstrap", mode="constant_mix", paths=1_000, horizon=horizon, seed=seed,
        periods_per_year=p, initial_value=100_000.0, probability_of_loss=0.1234,
        terminal_percentiles={"p5": 82_000.0, "p25": 95_000.0, "p50": 109_000.0, "p75": 121_000.0, "p95": 140_000.0},
        downside_terminal_value=82_000.0, expected_terminal_value=110_500.0, horizon_var_95=0.18,
        horizon_cvar_95=0.235, fan=FanChart(percentiles=percentiles, bands=bands),
        histogram_edges=edges, histogram_counts=counts, warnings=["only 10 years of history"],
    )


def scenario(sid: str, name: str, start: dt.date, ret: float, *, proxied: list[str] | None = None,
             uncovered: list[str] | None = None) -> ScenarioResult:
    days = [start + dt.timedelta(days=k) for k in range(5)]
    path = [1.0, 1.0 + ret / 3, 1.0 + ret / 2, 1.0 + ret * 1.1, 1.0 + ret]
    assets = [AssetScenarioImpact(symbol="SPY", weight=0.6, series="SPY", proxied=False, covered=True,
                                  asset_return=ret, contribution=0.6 * ret)]
    assets += [AssetScenarioImpact(symbol=s, weight=0.3, series="AGG", proxied=True, covered=True,
                                   asset_return=0.01, contribution=0.003) for s in proxied or []]
    assets += [AssetScenarioImpact(symbol=s, weight=0.1, series=None, proxied=False, covered=False,
                                   asset_return=None, contribution=None) for s in uncovered or []]
    return ScenarioResult(id=sid, name=name, start=start, end=days[-1], portfolio_return=ret,
                          max_drawdown=max(-ret * 1.1, 0.0), loss_value=-ret * 250_000, assets=assets,
                          path=SeriesPoint(dates=days, values=path), proxied=proxied or [],
                          uncovered=uncovered or [], warnings=[f"{s}: replayed on AGG" for s in proxied or []])


def scenario_results() -> list[ScenarioResult]:
    return [
        scenario("gfc", "2008 financial crisis", dt.date(2007, 10, 9), -0.339, proxied=["BND"]),
        scenario("covid", "2020 COVID crash", dt.date(2020, 2, 19), -0.21, uncovered=["BTC"]),
        scenario("taper", "2013 taper tantrum", dt.date(2013, 5, 1), 0.012),
    ]
