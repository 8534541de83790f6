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


def test_backtest_includes_point_in_time_ai_targets(monkeypatch) -> None:
    import pandas as pd

    import engine.ai_service as ai

    seen: list[tuple] = []
    real = ai.ai_targets_policy

    def spy(*args, **kwargs):
        fn = real(*args, **kwargs)

        def wrapped(as_of, returns):
            seen.append((as_of, returns.index.max()))
            return fn(as_of, returns)
        return wrapped

    monkeypatch.setattr(ai, "ai_targets_policy", spy)
    portfolio = service.sample_portfolio("P1_CLASSIC_60_40")
    result = service.backtest({"portfolio": portfolio.model_dump(), "policy": {},
                               "start": "2012-01-01", "end": "2016-09-30"})
    names = [p.name for p in result.policies]
    assert names[0] == "Buy and hold" and names[-1].startswith("AI targets")
    assert seen and all(last <= pd.Timestamp(as_of) for as_of, last in seen)  # never sees the future
    ai_policy = result.policies[-1]
    assert ai_policy.n_rebalances > 0 and ai_policy.total_costs > 0
    assert abs(sum(1 for _ in seen) - ai_policy.n_decisions) <= 1


def test_audit_export_is_itself_audited(tmp_path) -> None:
    path = str(tmp_path / "audit.sqlite3")
    text = service.export_audit(user="erin", path=path)
    assert text.splitlines() == ["seq,ts,user,kind,subject,payload,prev_hash,hash"]
    (entry,) = service.audit_entries(path=path)
    assert (entry["kind"], entry["user"], entry["payload"]) == ("export", "erin", {"what": "audit_log", "entries": 0})
    assert service.verify_audit(path).ok
