"""Result models: what the engine returns and both faces show. ``None`` = not computable."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from engine.schemas.base import ResultModel

Action = Literal["BUY", "SELL", "HOLD"]


# --- rebalance -------------------------------------------------------------------------------
class TradeLine(ResultModel):
    symbol: str
    name: str
    asset_class: str
    action: Action
    price: float
    current_quantity: float
    current_value: float
    current_weight: float
    target_weight: float
    drift: float = Field(description="current_weight - target_weight (the effective target when a cash reserve applies)")
    band_low: float
    band_high: float
    in_band: bool
    units: float = Field(description="Units traded, a whole multiple of trade_unit; > 0 for BUY and SELL, 0 for HOLD.")
    trade_value: float = Field(description="units × price, ≥ 0.")
    cost: float = Field(description="Estimated transaction cost, ≥ 0.")
    cost_bps: float
    trade_unit: float
    post_trade_quantity: float
    post_trade_value: float
    post_trade_weight: float
    post_trade_drift: float
    reason: str = Field(description="Why this action, in words an advisor reads.")
    effective_target_weight: float | None = Field(
        default=None, description="Target as a fraction of total value: target_weight × (value − cash reserve) / value."
    )


class RebalanceTotals(ResultModel):
    portfolio_value: float = Field(description="Holdings plus cash, before the cash flow.")
    post_trade_value: float = Field(description="Holdings plus cash after trades, cash flow and costs.")
    cash_before: float
    cash_flow: float
    cash_reserve: float
    buy_value: float
    sell_value: float
    turnover: float = Field(description="One-way turnover: buys / portfolio value.")
    turnover_limit: float | None
    total_cost: float
    residual_cash: float = Field(description="Cash after trades and costs.")
    residual_cash_weight: float
    n_trades: int
    limits_bound: list[str] = Field(
        default_factory=list,
        description="Constraints that stopped the trades short: 'turnover_limit', 'cash', 'cash_reserve', 'min_trade_value', 'lot_size'.",
    )
    turnover_limit_bound: bool = False


class RebalanceResult(ResultModel):
    trades: list[TradeLine]
    totals: RebalanceTotals
    post_trade_weights: dict[str, float] = Field(description="By symbol, plus 'CASH'; sums to 1.")
    warnings: list[str] = Field(default_factory=list)


# --- risk -------------------------------------------------------------------------------------
class RiskMetrics(ResultModel):
    """The metrics of METRICS.md, by their public names."""

    volatility: float | None = None
    expected_annual_return: float | None = None
    cagr: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    max_drawdown: float | None = None
    var_95: float | None = None
    cvar_95: float | None = None
    tracking_error: float | None = None
    information_ratio: float | None = None
    beta: float | None = None


class RiskContribution(ResultModel):
    symbol: str
    weight: float
    contribution: float = Field(description="Share of portfolio volatility (annualised), sums to volatility.")
    contribution_pct: float | None = Field(description="Share of portfolio volatility, sums to 1.")


class CorrelationMatrix(ResultModel):
    symbols: list[str]
    matrix: list[list[float | None]]


class DataWindow(ResultModel):
    start: dt.date | None
    end: dt.date | None
    n_periods: int
    frequency: Literal["daily", "weekly", "monthly", "quarterly", "annual", "unknown"]
    periods_per_year: int


class SeriesPoint(ResultModel):
    dates: list[dt.date] | None = Field(description="None when the history has no dates (caller-supplied returns).")
    values: list[float]


class RiskSide(ResultModel):
    """One side (before or after) of the risk panel."""

    weights: dict[str, float]
    metrics: RiskMetrics
    contributions: list[RiskContribution]
    cumulative_return: SeriesPoint
    drawdown: SeriesPoint


class RiskReport(ResultModel):
    before: RiskSide
    after: RiskSide | None = None
    benchmark: str | None
    window: DataWindow
    correlation: CorrelationMatrix
    proxies: dict[str, str] = Field(default_factory=dict, description="Holding -> series used for its history.")
    uncovered: list[str] = Field(default_factory=list, description="Holdings with no history and no proxy (treated as cash).")
    warnings: list[str] = Field(default_factory=list)


# --- stress -----------------------------------------------------------------------------------
class FanChart(ResultModel):
    percentiles: list[float] = Field(description="e.g. [5, 25, 50, 75, 95]")
    bands: list[list[float]] = Field(description="bands[i][t]: value at step t (0 = start) of percentiles[i].")


class MonteCarloResult(ResultModel):
    method: str
    mode: str
    paths: int
    horizon: int
    seed: int
    periods_per_year: int
    initial_value: float
    probability_of_loss: float
    terminal_percentiles: dict[str, float] = Field(description="'p5','p25','p50','p75','p95' terminal values.")
    downside_terminal_value: float = Field(description="5th percentile terminal value (the seed's figure).")
    expected_terminal_value: float
    horizon_var_95: float = Field(description="Loss at the 5th percentile, as a positive fraction of the start.")
    horizon_cvar_95: float
    fan: FanChart
    histogram_edges: list[float]
    histogram_counts: list[int]
    warnings: list[str] = Field(default_factory=list)


class ScenarioInfo(ResultModel):
    id: str
    name: str
    start: dt.date
    end: dt.date
    description: str
    reference: str = Field(description="Reference index and its peak-to-trough move in the window, from bundled data.")


class AssetScenarioImpact(ResultModel):
    symbol: str
    weight: float
    series: str | None = Field(description="Series replayed: the holding's own, a proxy, or None if uncovered.")
    proxied: bool
    covered: bool
    asset_return: float | None
    contribution: float | None = Field(description="weight × asset return (fraction of starting value).")


class ScenarioResult(ResultModel):
    id: str
    name: str
    start: dt.date
    end: dt.date
    portfolio_return: float
    max_drawdown: float = Field(description="Peak-to-trough inside the window, positive fraction.")
    loss_value: float = Field(description="Money lost (positive) or gained (negative) on the current value.")
    assets: list[AssetScenarioImpact]
    path: SeriesPoint = Field(description="Portfolio value relative to 1 at the window start.")
    proxied: list[str]
    uncovered: list[str]
    warnings: list[str] = Field(default_factory=list)


class StressReport(ResultModel):
    monte_carlo: MonteCarloResult | None = None
    scenarios: list[ScenarioResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class StressSummary(ResultModel):
    """The seed's stress figures: probability of loss and 5th-percentile terminal value."""

    probability_of_loss: float
    downside_terminal_value: float
    method: str
    paths: int
    horizon: int
    seed: int


# --- market data ------------------------------------------------------------------------------
class SeriesInfo(ResultModel):
    key: str = Field(description="Unique key: the symbol, or 'SYMBOL@monthly' when a daily series has the same symbol.")
    symbol: str
    name: str
    data_class: str = Field(description="The bundled data's asset_class column (etf_equity, fx, …).")
    asset_class: str | None = Field(description="The holding kind it maps to; None for rates and factor tables.")
    exposure: str | None
    frequency: str
    start: dt.date
    end: dt.date
    rows: int
    currency: str
    units: str
    source: str
    license: str
    derived: bool = False
    last_price: float | None = None


class PortfolioSummary(ResultModel):
    id: str
    name: str
    as_of: dt.date
    n_holdings: int
    value: float


# --- combined ---------------------------------------------------------------------------------
class RiskComparison(ResultModel):
    before: RiskMetrics
    after: RiskMetrics
    window: DataWindow | None
    warnings: list[str] = Field(default_factory=list)


class RebalanceReport(ResultModel):
    """What ``POST /api/rebalance`` returns (besides metadata): trades, risk, stress."""

    trades: list[TradeLine]
    totals: RebalanceTotals
    post_trade_weights: dict[str, float]
    risk: RiskComparison | None
    stress: StressSummary | None
    warnings: list[str] = Field(default_factory=list)
