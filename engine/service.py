"""The service layer: one function per use case, the only door the REST API and the GUI use.

Each function takes a validated request model (or a plain dict, validated here, so both faces
share one set of rules), returns a result model, and raises only :mod:`engine.errors` types.
A number the GUI shows and the API returns comes from the same function.

Long computations accept ``progress(done: float in [0, 1])`` and ``cancel() -> bool``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InvalidRequest
from engine.schemas import (
    MonteCarloResult,
    Portfolio,
    PortfolioSummary,
    RebalanceReport,
    RebalanceRequest,
    RebalanceResult,
    RiskComparison,
    RiskMetrics,
    RiskReport,
    RiskRequest,
    ScenarioInfo,
    SeedRebalanceRequest,
    SeriesInfo,
    SeriesRiskRequest,
    StressReport,
    StressRequest,
    StressSummary,
)

Progress = Callable[[float], None]
Cancel = Callable[[], bool]
M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: M | Mapping[str, Any]) -> M:
    """Validate ``data`` against ``model``; raise :class:`InvalidRequest` listing every field."""
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest.from_pydantic(exc) from None


def parse_rebalance_request(data: RebalanceRequest | SeedRebalanceRequest | Mapping[str, Any]) -> RebalanceRequest:
    """Accept either the engine's form (``{"portfolio": …}``) or the seed MVP's (``{"assets": …}``)."""
    from engine.seed import seed_to_request

    if isinstance(data, SeedRebalanceRequest):
        return seed_to_request(data)
    if isinstance(data, Mapping) and "assets" in data and "portfolio" not in data:
        return seed_to_request(validate(SeedRebalanceRequest, data))
    return validate(RebalanceRequest, data)


# --- use cases ---------------------------------------------------------------------------------
def rebalance(data: RebalanceRequest | Mapping[str, Any]) -> RebalanceResult:
    """Trades that bring the portfolio back within its bands (no risk, no stress)."""
    from engine.rebalance import rebalance as _rebalance

    request = parse_rebalance_request(data)
    return _rebalance(request.portfolio, request.policy)


def rebalance_report(data: RebalanceRequest | SeedRebalanceRequest | Mapping[str, Any],
                     *, cancel: Cancel | None = None) -> RebalanceReport:
    """Trades, risk before and after them, and the seed's stress summary (``POST /api/rebalance``)."""
    from engine.rebalance import rebalance as _rebalance
    from engine.seed import restate_seed_targets

    seed_form = isinstance(data, SeedRebalanceRequest) or (
        isinstance(data, Mapping) and "assets" in data and "portfolio" not in data)
    request = parse_rebalance_request(data)
    result = _rebalance(request.portfolio, request.policy)
    if seed_form:
        result = result.model_copy(update={"trades": restate_seed_targets(result.trades)})
    warnings = list(result.warnings)
    risk: RiskComparison | None = None
    stress: StressSummary | None = None
    settings = request.risk
    investable = request.portfolio.total_value + request.policy.cash_flow
    if request.policy.cash_reserve > 0 and investable > 0 and settings.target_cash_weight == 0:
        # The reserve is part of the policy portfolio: the "targets" benchmark holds it as cash.
        settings = settings.model_copy(update={"target_cash_weight": min(request.policy.cash_reserve / investable,
                                                                          0.999999)})
    risk_request = RiskRequest(
        portfolio=request.portfolio,
        settings=settings,
        post_trade_weights=result.post_trade_weights,
        history=request.history,
    )
    try:
        report = analyse_risk(risk_request)
    except InvalidRequest:
        raise
    except Exception as exc:
        from engine.errors import RebalancerError

        if not isinstance(exc, RebalancerError):
            raise
        warnings.append(f"risk not computed: {exc.message}")
    else:
        after = report.after.metrics if report.after else RiskMetrics()
        risk = RiskComparison(before=report.before.metrics, after=after, window=report.window,
                              warnings=report.warnings)
        mc = monte_carlo(
            StressRequest(portfolio=request.portfolio, monte_carlo=request.monte_carlo, history=request.history),
            cancel=cancel,
        )
        stress = StressSummary(
            probability_of_loss=mc.probability_of_loss,
            downside_terminal_value=mc.downside_terminal_value,
            method=mc.method, paths=mc.paths, horizon=mc.horizon, seed=mc.seed,
        )
    return RebalanceReport(
        trades=result.trades, totals=result.totals, post_trade_weights=result.post_trade_weights,
        risk=risk, stress=stress, warnings=warnings,
    )


def analyse_risk(data: RiskRequest | Mapping[str, Any]) -> RiskReport:
    """The risk panel: METRICS.md metrics before (and after) trades on the same dates."""
    from engine.market_data import portfolio_returns
    from engine.risk_report import risk_report

    request = validate(RiskRequest, data)
    frame = portfolio_returns(request.portfolio, history=request.history,
                              lookback_years=request.settings.lookback_years,
                              periods_per_year=request.settings.periods_per_year)
    return risk_report(request.portfolio, frame, request.settings, request.post_trade_weights)


def analyse_series(data: SeriesRiskRequest | Mapping[str, Any]) -> RiskMetrics:
    """METRICS.md metrics of one raw return series."""
    from engine.risk import compute_metrics

    request = validate(SeriesRiskRequest, data)
    return compute_metrics(request.returns, benchmark=request.benchmark_returns,
                           risk_free_rate=request.risk_free_rate, periods_per_year=request.periods_per_year)


def monte_carlo(data: StressRequest | Mapping[str, Any], *, progress: Progress | None = None,
                cancel: Cancel | None = None) -> MonteCarloResult:
    """Monte Carlo stress test of the portfolio as it stands (METRICS.md)."""
    from engine.market_data import portfolio_returns
    from engine.schemas import MonteCarloSettings
    from engine.stress import run_monte_carlo

    request = validate(StressRequest, data)
    settings = request.monte_carlo or MonteCarloSettings()
    frame = portfolio_returns(request.portfolio, history=request.history)
    return run_monte_carlo(request.portfolio, frame, settings, progress=progress, cancel=cancel)


def stress_test(data: StressRequest | Mapping[str, Any], *, progress: Progress | None = None,
                cancel: Cancel | None = None) -> StressReport:
    """Monte Carlo (if asked) and historical scenario replays (if asked)."""
    from engine.scenarios import replay_scenarios

    request = validate(StressRequest, data)
    mc = monte_carlo(request, progress=progress, cancel=cancel) if request.monte_carlo else None
    scenarios = replay_scenarios(request.portfolio, request.scenarios) if request.scenarios else []
    return StressReport(monte_carlo=mc, scenarios=scenarios)


def list_scenarios() -> list[ScenarioInfo]:
    from engine.scenarios import scenario_library

    return scenario_library()


def catalogue() -> list[SeriesInfo]:
    """Every bundled series: symbol, asset class, frequency, date range, licence."""
    from engine.market_data import MarketData

    return MarketData.bundled().catalogue()


def sample_portfolios() -> list[PortfolioSummary]:
    from engine.market_data import sample_portfolio_summaries

    return sample_portfolio_summaries()


def sample_portfolio(portfolio_id: str) -> Portfolio:
    from engine.market_data import load_sample_portfolio

    return load_sample_portfolio(portfolio_id)


def multi_agent_blueprint() -> dict[str, Any]:
    """The seed's ``/api/multi-agent-blueprint``, generated from the declared pipeline and controls."""
    from engine.pipeline.definition import blueprint

    return blueprint()


def check_controls(portfolio: Portfolio, proposal: RebalanceResult, policy: Any = None,
                   post_trade_risk: RiskMetrics | None = None) -> Any:
    """Run the supervisor's pre-trade controls on a proposal (``policy``: a ControlPolicy or dict)."""
    from engine.governance.controls import ControlContext, run_controls
    from engine.schemas.governance import ControlPolicy

    control_policy = validate(ControlPolicy, policy or {})
    return run_controls(ControlContext(portfolio, proposal, control_policy, post_trade_risk))
