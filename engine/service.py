"""The service layer: one function per use case, the only door the REST API and the GUI use.

Each function takes a validated request model (or a plain dict, validated here, so both faces
share one set of rules), returns a result model, and raises only :mod:`engine.errors` types.
A number the GUI shows and the API returns comes from the same function.

Long computations accept ``progress(done: float in [0, 1])`` and ``cancel() -> bool``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:
    from engine.audit import VerifyResult
    from engine.governance.registry import ModelRecord
    from engine.pipeline.store import RunStore
    from engine.schemas.ai import ForecastRequest, OptimizeRequest, PortfolioForecast, PortfolioTargets
    from engine.schemas.backtest import BacktestRequest, BacktestResult
    from engine.schemas.execution import ExecutionReport
    from engine.schemas.pipeline import PipelineRequest, RunRecord, RunSummary

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

    if _is_seed_form(data):
        return seed_to_request(validate(SeedRebalanceRequest, data))
    return _check_reserve(validate(RebalanceRequest, data))


def _check_reserve(request: RebalanceRequest) -> RebalanceRequest:
    """A reserve that is not below the value left after the cash flow would sell every holding."""
    value = request.portfolio.total_value + request.policy.cash_flow
    reserve = request.policy.cash_reserve
    if reserve > 0 and reserve >= value:
        msg = (f"cash reserve {reserve:,.2f} is not below the portfolio's value after the cash flow "
               f"({value:,.2f}); nothing could stay invested")
        raise InvalidRequest(msg, [{"loc": ["policy", "cash_reserve"], "msg": msg, "type": "value_error"}])
    return request


def _is_seed_form(data: object) -> bool:
    return isinstance(data, SeedRebalanceRequest) or (
        isinstance(data, Mapping) and "assets" in data and "portfolio" not in data)


# --- use cases ---------------------------------------------------------------------------------
def rebalance(data: RebalanceRequest | SeedRebalanceRequest | Mapping[str, Any]) -> RebalanceResult:
    """Trades that bring the portfolio back within its bands (no risk, no stress)."""
    return _rebalance_parsed(data)[1]


def _rebalance_parsed(data: RebalanceRequest | SeedRebalanceRequest | Mapping[str, Any],
                      ) -> tuple[RebalanceRequest, RebalanceResult]:
    """The parsed request and its trades; a seed-form request gets its targets stated as sent."""
    from engine.rebalance import rebalance as _rebalance
    from engine.seed import restate_seed_targets

    request = parse_rebalance_request(data)
    result = _rebalance(request.portfolio, request.policy)
    if _is_seed_form(data):
        result = result.model_copy(update={"trades": restate_seed_targets(result.trades)})
    return request, result


def rebalance_report(data: RebalanceRequest | SeedRebalanceRequest | Mapping[str, Any],
                     *, cancel: Cancel | None = None) -> RebalanceReport:
    """Trades, risk before and after them, and the seed's stress summary (``POST /api/rebalance``)."""
    request, result = _rebalance_parsed(data)
    warnings = list(result.warnings)
    risk, stress = _risk_and_stress(request, result, warnings, cancel)
    return RebalanceReport(
        trades=result.trades, totals=result.totals, post_trade_weights=result.post_trade_weights,
        risk=risk, stress=stress, warnings=warnings,
    )


def _risk_and_stress(request: RebalanceRequest, result: RebalanceResult, warnings: list[str],
                     cancel: Cancel | None) -> tuple[RiskComparison | None, StressSummary | None]:
    """Risk before/after and the stress summary of a rebalance; what cannot be computed for lack
    of data (or of a portfolio: nothing held before a first deposit) is left out with a warning,
    so the trades still reach the caller. Invalid input and cancellation still raise."""
    from engine.errors import Cancelled, RebalancerError

    if request.portfolio.total_value <= 0:
        warnings.append("risk and stress not computed: the portfolio holds nothing before the trades")
        return None, None
    settings = request.risk
    investable = request.portfolio.total_value + request.policy.cash_flow
    if request.policy.cash_reserve > 0 and investable > 0 and settings.target_cash_weight == 0:
        # The reserve is part of the policy portfolio: the "targets" benchmark holds it as cash.
        settings = settings.model_copy(update={"target_cash_weight": min(request.policy.cash_reserve / investable,
                                                                          0.999999)})
    from engine.market_data import portfolio_returns
    from engine.risk_report import risk_comparison
    from engine.stress import stress_summary

    try:
        # Aligned once: the Monte Carlo reuses the risk panel's history unless a lookback or a
        # periods override narrows the risk window (the simulation always uses the full history).
        frame = portfolio_returns(request.portfolio, history=request.history,
                                  lookback_years=settings.lookback_years, periods_per_year=settings.periods_per_year)
        risk = risk_comparison(request.portfolio, frame, settings, result.post_trade_weights)
    except (InvalidRequest, Cancelled):
        raise
    except RebalancerError as exc:
        warnings.append(f"risk not computed: {exc.message}")
        return None, None
    try:
        if settings.lookback_years is not None or settings.periods_per_year is not None:
            frame = portfolio_returns(request.portfolio, history=request.history)
        # Terminal values only: the same paths as the full Monte Carlo, without the fan chart.
        stress = stress_summary(request.portfolio, frame, request.monte_carlo, cancel=cancel)
    except (InvalidRequest, Cancelled):
        raise
    except RebalancerError as exc:
        warnings.append(f"stress not computed: {exc.message}")
        return risk, None
    return risk, stress


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


# --- the governed agent pipeline (issue 6) ----------------------------------------------------

def _run_store(store: RunStore | None) -> AbstractContextManager[RunStore]:
    """The given RunStore (left open), or the one in the data directory (closed after use)."""
    from contextlib import nullcontext

    from engine.pipeline.store import RunStore

    return nullcontext(store) if store is not None else RunStore()


def run_pipeline(data: PipelineRequest | Mapping[str, Any], *, user: str | None = None, store: RunStore | None = None,
                 on_stage: Callable[[str, int, int], None] | None = None, cancel: Cancel | None = None) -> RunRecord:
    """Run Supervisor → Data → Forecast → Risk → Optimizer → Execution → Supervisor approval.

    ``data`` is a PipelineRequest or a dict (validated here: an invalid request raises
    :class:`InvalidRequest` and creates no run). Returns the RunRecord, status
    ``awaiting_approval``, ``blocked`` or ``failed``; ``store`` (a RunStore) defaults to the one
    in the data directory, with the audit trail beside it.
    """
    from engine.pipeline.runner import execute
    from engine.schemas.pipeline import PipelineRequest

    request = validate(PipelineRequest, data)
    with _run_store(store) as runs:
        return execute(request, runs, user=user, on_stage=on_stage, cancel=cancel)


def list_runs(*, status: str | None = None, limit: int = 100, offset: int = 0,
              store: RunStore | None = None) -> list[RunSummary]:
    """Pipeline runs, newest first (RunSummary rows); opening the store marks orphaned runs incomplete."""
    with _run_store(store) as runs:
        return runs.list(status=status, limit=limit, offset=offset)  # type: ignore[arg-type]


def get_run(run_id: str, *, store: RunStore | None = None) -> RunRecord:
    """One run's full RunRecord; ``RunNotFound`` (code ``not_found``) if there is none."""
    with _run_store(store) as runs:
        return runs.get(run_id)


def approve_run(run_id: str, *, user: str, note: str, store: RunStore | None = None) -> RunRecord:
    """Approve a run awaiting approval (a note is required), then simulate its execution and TCA.

    Raises InvalidRequest (no user or note), ApprovalRefused (code ``approval_refused``: the run
    is blocked or already decided) or RunNotFound.
    """
    from engine.pipeline.approval import approve

    with _run_store(store) as runs:
        return approve(runs, run_id, user=user, note=note)


def reject_run(run_id: str, *, user: str, note: str, store: RunStore | None = None) -> RunRecord:
    """Reject a run awaiting approval, with a note. Raises as :func:`approve_run`."""
    from engine.pipeline.approval import reject

    with _run_store(store) as runs:
        return reject(runs, run_id, user=user, note=note)


# --- AI-assisted targets, backtests, execution (issue 6) ----------------------------------------
def forecast(data: ForecastRequest | Mapping[str, Any]) -> PortfolioForecast:
    """Each holding's expected return and confidence, with the model's measured walk-forward skill."""
    from engine.ai_service import forecast_portfolio

    return forecast_portfolio(data)


def optimize(data: OptimizeRequest | Mapping[str, Any]) -> PortfolioTargets:
    """Optimised targets around the strategic ones (or the strategic ones, with the reason)."""
    from engine.ai_service import optimize_portfolio

    return optimize_portfolio(data)


def model_version() -> str:
    """The forecast model's version and parameters hash, shown in every API response."""
    from engine.ai_service import model_version as _model_version

    return _model_version()


def backtest(data: BacktestRequest | Mapping[str, Any], *, ai_targets: bool = True,
             progress: Progress | None = None, cancel: Cancel | None = None) -> BacktestResult:
    """Rebalancing policies replayed on real history with costs: buy-and-hold, calendar, bands,
    and (``ai_targets``) the optimised targets re-estimated point-in-time at each decision."""
    from engine.ai_service import ai_targets_policy
    from engine.backtest import run_backtest
    from engine.market_data import portfolio_returns
    from engine.schemas.backtest import BacktestRequest

    request = validate(BacktestRequest, data)
    targets_fn = None
    if ai_targets and request.policies is None:
        periods = portfolio_returns(request.portfolio).periods_per_year
        targets_fn = ai_targets_policy(request.portfolio, periods)
    return run_backtest(request, targets_fn=targets_fn, progress=progress, cancel=cancel)


def simulate_execution(proposal: RebalanceResult | Mapping[str, Any], settings: Any = None) -> ExecutionReport:
    """Simulated fills of a proposal's trades and their transaction-cost analysis."""
    from engine.execution import simulate_execution as _simulate

    return _simulate(proposal, settings)


# --- audit trail and model registry (issue 6) ---------------------------------------------------
def audit_entries(*, kind: str | None = None, limit: int | None = 500, offset: int = 0,
                  path: str | None = None) -> list[dict[str, Any]]:
    """Audit log entries in sequence order, as plain dicts."""
    from dataclasses import asdict

    from engine.audit import AuditLog

    with AuditLog(path) as log:
        return [asdict(e) for e in log.entries(kind=kind, limit=limit, offset=offset)]


def verify_audit(path: str | None = None) -> VerifyResult:
    """Recompute the audit log's hash chain; lists every edited or deleted entry."""
    from engine.audit import AuditLog

    with AuditLog(path) as log:
        return log.verify()


def export_audit(*, user: str | None = None, path: str | None = None) -> str:
    """The audit log as CSV text; the export itself is recorded in the log."""
    from engine.audit import AuditLog

    with AuditLog(path) as log:
        text = log.export_csv()
        log.append("export", {"what": "audit_log", "entries": len(log)}, subject="audit_log", user=user)
        return text


def list_models(name: str | None = None, *, path: str | None = None) -> list[ModelRecord]:
    """Registered forecast models: versions, parameter hashes, roles, evaluations, approval."""
    from engine.governance.registry import ModelRegistry

    registry = ModelRegistry(path)
    try:
        return registry.list(name)
    finally:
        registry.close()
