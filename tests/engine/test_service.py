"""The service layer composes engine functions without changing their numbers."""

from __future__ import annotations

from engine import service
from engine.market_data import portfolio_returns
from engine.schemas import MonteCarloSettings, RiskRequest, StressRequest
from engine.stress import run_monte_carlo


def test_rebalance_report_figures_equal_the_standalone_use_cases() -> None:
    portfolio = service.sample_portfolio("P1_CLASSIC_60_40")
    report = service.rebalance_report({"portfolio": portfolio.model_dump(), "policy": {"turnover_limit": 0.05}})
    risk = service.analyse_risk(RiskRequest(portfolio=portfolio, post_trade_weights=report.post_trade_weights))
    mc = service.monte_carlo(StressRequest(portfolio=portfolio))
    assert report.risk.before == risk.before.metrics
    assert report.risk.after == risk.after.metrics
    assert (report.stress.probability_of_loss, report.stress.downside_terminal_value) == (
        mc.probability_of_loss, mc.downside_terminal_value)
    assert (report.stress.paths, report.stress.horizon, report.stress.seed) == (10_000, 252, 42)


def test_summary_only_monte_carlo_keeps_every_terminal_figure() -> None:
    portfolio = service.sample_portfolio("P5_CONSERVATIVE_INCOME")
    frame = portfolio_returns(portfolio)
    settings = MonteCarloSettings(method="block_bootstrap", paths=3_000, seed=9)
    full = run_monte_carlo(portfolio, frame, settings)
    summary = run_monte_carlo(portfolio, frame, settings, fan=False)
    assert summary.fan.bands == [] and full.fan.bands
    assert summary.model_dump(exclude={"fan"}) == full.model_dump(exclude={"fan"})
