"""Pre-trade controls: each gives pass / warn / fail with a reason; hard fails block approval."""

from __future__ import annotations

import pytest

from engine.governance.controls import CONTROLS, ControlContext, run_controls
from engine.schemas import Holding, Portfolio, RebalanceResult, RebalanceTotals, RiskMetrics, TradeLine
from engine.schemas.governance import ClassLimit, ControlPolicy
from engine.service import check_controls, multi_agent_blueprint

PORTFOLIO = Portfolio(
    holdings=[
        Holding(symbol="SPY", asset_class="etf", quantity=660, price=100.0, target_weight=0.6),
        Holding(symbol="AGG", asset_class="etf", exposure="fixed_income", quantity=340, price=100.0,
                target_weight=0.4),
    ]
)


def line(symbol: str, action: str, value: float) -> TradeLine:
    return TradeLine(
        symbol=symbol, name=symbol, asset_class="etf", action=action, price=100.0, current_quantity=0,
        current_value=0, current_weight=0, target_weight=0, drift=0, band_low=0, band_high=0, in_band=False,
        units=value / 100.0, trade_value=value, cost=0.0, cost_bps=0.0, trade_unit=1.0, post_trade_quantity=0,
        post_trade_value=0, post_trade_weight=0, post_trade_drift=0, reason="test",
    )


def proposal(buy: float, sell: float, weights: dict[str, float]) -> RebalanceResult:
    totals = RebalanceTotals(
        portfolio_value=100_000.0, post_trade_value=100_000.0, cash_before=0.0, cash_flow=0.0, cash_reserve=0.0,
        buy_value=buy, sell_value=sell, turnover=buy / 100_000.0, turnover_limit=None, total_cost=0.0,
        residual_cash=weights.get("CASH", 0.0) * 100_000.0, residual_cash_weight=weights.get("CASH", 0.0),
        n_trades=2,
    )
    trades = [line("AGG", "BUY", buy), line("SPY", "SELL", sell)]
    return RebalanceResult(trades=trades, totals=totals, post_trade_weights=weights)


BASE = proposal(6_000.0, 6_000.0, {"SPY": 0.60, "AGG": 0.40, "CASH": 0.0})


def by_name(report, name):
    return next(r for r in report.results if r.control == name)


def test_all_pass_on_a_modest_rebalance() -> None:
    report = run_controls(ControlContext(PORTFOLIO, BASE, ControlPolicy()))
    assert report.approvable
    assert [r.control for r in report.results] == [c.name for c in CONTROLS]
    assert by_name(report, "max_turnover").status == "pass"
    assert by_name(report, "max_turnover").reason == "one-way turnover 6.00 % is within the limit 25.00 %"
    # no risk given and no risk limits set -> pass with "no ... limit set"
    assert by_name(report, "post_trade_volatility").status == "pass"


@pytest.mark.parametrize(
    ("policy", "control", "status"),
    [
        (ControlPolicy(max_turnover=0.05), "max_turnover", "fail"),
        (ControlPolicy(max_turnover=0.065), "max_turnover", "warn"),  # 6 % >= 0.9 × 6.5 %
        (ControlPolicy(max_single_trade=0.05), "max_single_trade", "fail"),
        (ControlPolicy(min_cash_weight=0.01), "min_cash", "fail"),
        (ControlPolicy(do_not_buy=["agg"]), "restricted_list", "fail"),
        (ControlPolicy(do_not_sell=["AGG"]), "restricted_list", "pass"),
        (ControlPolicy(class_limits={"equity": ClassLimit(max=0.5)}), "class_limits", "fail"),
        (ControlPolicy(class_limits={"fixed_income": ClassLimit(min=0.3, max=0.5)}), "class_limits", "pass"),
        (ControlPolicy(max_post_trade_volatility=0.10), "post_trade_volatility", "warn"),  # risk unavailable
    ],
)
def test_each_control(policy: ControlPolicy, control: str, status: str) -> None:
    report = run_controls(ControlContext(PORTFOLIO, BASE, policy))
    result = by_name(report, control)
    assert result.status == status, result.reason
    assert report.approvable is (status != "fail")


def test_post_trade_risk_limits_use_the_after_metrics() -> None:
    risk = RiskMetrics(volatility=0.12, var_95=0.011)
    policy = ControlPolicy(max_post_trade_volatility=0.10, max_post_trade_var_95=0.02)
    report = run_controls(ControlContext(PORTFOLIO, BASE, policy, risk))
    vol, var = by_name(report, "post_trade_volatility"), by_name(report, "post_trade_var_95")
    assert (vol.status, vol.value, vol.limit) == ("fail", 0.12, 0.10)
    assert vol.reason == "post-trade volatility 12.00 % exceeds the limit 10.00 %"
    assert var.status == "pass"
    assert not report.approvable
    assert report.n_fail == 1


def test_class_limit_reason_names_the_breach() -> None:
    policy = ControlPolicy(class_limits={"equity": ClassLimit(min=0.0, max=0.5)})
    result = by_name(run_controls(ControlContext(PORTFOLIO, BASE, policy)), "class_limits")
    assert result.reason == "equity 60.00 % outside [0.00 %, 50.00 %]"


def test_service_validates_control_policy() -> None:
    from engine.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as info:
        check_controls(PORTFOLIO, BASE, {"max_turnover": 2.0, "bogus": 1})
    assert [d["loc"] for d in info.value.details] == [["max_turnover"], ["bogus"]]


def test_blueprint_is_generated_from_declared_stages_and_controls() -> None:
    bp = multi_agent_blueprint()
    assert bp["flow"] == ["supervisor", "market_data", "forecast", "risk", "optimizer", "execution",
                          "supervisor_approval"]
    assert [c["name"] for c in bp["governance"]["pre_trade_controls"]] == [c.name for c in CONTROLS]
    assert all(set(s) >= {"name", "agent", "role", "inputs", "outputs", "implemented"} for s in bp["stages"])
    assert bp["stages"][-1]["implemented"] is True
