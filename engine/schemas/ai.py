"""AI-assisted targets: forecast settings and results, walk-forward skill, optimiser settings and results.

Requests (settings) are strict; results are plain data where ``None`` means "not computable".
Windows, half-life and horizon are counted in periods of the return data they are applied to
(business days for daily data, months for monthly data).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.schemas.base import ResultModel, StrictModel
from engine.schemas.governance import ClassLimit
from engine.schemas.portfolio import Exposure, Portfolio
from engine.schemas.requests import AssetHistory

SignalName = Literal["momentum", "mean_reversion", "ewma"]
SkillLevel = Literal["none", "weak", "moderate", "negative", "undetermined"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


# --- forecasts ---------------------------------------------------------------------------------
class ForecastSettings(StrictModel):
    """Parameters of the momentum / mean-reversion / EWMA ensemble (all in data periods)."""

    short_window: Annotated[int, Field(ge=2, le=10_000)] = Field(
        default=21, description="Momentum window: mean of the last short_window returns.")
    long_window: Annotated[int, Field(ge=3, le=10_000)] = Field(
        default=252, description="Long window of the mean-reversion signal and of the EWMA.")
    half_life: Annotated[float, Field(gt=0.0, le=10_000.0)] = Field(
        default=63.0, description="EWMA half-life: an observation half_life periods old weighs half.")
    horizon: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=21, description="Forecast horizon: the next horizon periods after the as-of date.")
    reversion_strength: Fraction = Field(
        default=0.5, description="Share of the short window's excess over the long mean expected to reverse.")
    periods_per_year: Annotated[int, Field(ge=1, le=366)] | None = Field(
        default=None, description="P used to annualise; inferred from the dates up to the as-of date when None.")

    @model_validator(mode="after")
    def _windows_ordered(self) -> ForecastSettings:
        if self.long_window <= self.short_window:
            raise ValueError(f"long_window {self.long_window} must exceed short_window {self.short_window}")
        return self


class SignalForecast(ResultModel):
    """One signal's view of one asset."""

    signal: SignalName
    expected_return: float = Field(description="Annualised arithmetic expected return (mean × P).")
    confidence: float = Field(description="max(0, 1 − 1/z²), z = signal / its standard error: the share of its variance that is not noise.")
    weight: float = Field(description="Its share of the confidence-weighted ensemble; weights sum to 1 or all 0.")
    contribution: float = Field(description="weight × expected_return: its part of the asset's expected return.")


class AssetForecast(ResultModel):
    symbol: str
    expected_return: float = Field(description="Annualised ensemble expected return (0 when no signal has confidence).")
    horizon_return: float = Field(description="Expected compounded return over the horizon: (1 + mean)^horizon − 1.")
    confidence: float = Field(description="In [0, 1]: the signals' confidence, discounted when they disagree.")
    n_observations: int = Field(description="Returns used (inside the long window, up to the as-of date).")
    signals: list[SignalForecast]


class ForecastResult(ResultModel):
    model_name: str
    model_version: str
    params_hash: str = Field(description="SHA-256 of the canonical JSON of the model parameters.")
    settings: ForecastSettings
    as_of: dt.date = Field(description="Last date whose data the forecast used.")
    horizon: int
    periods_per_year: int
    assets: list[AssetForecast]
    average_confidence: float
    warnings: list[str] = Field(default_factory=list)


# --- walk-forward skill ------------------------------------------------------------------------
class ClassSkill(ResultModel):
    asset_class: str
    n_assets: int
    n_ic_dates: int = Field(description="Dates with a defined cross-sectional IC (≥ 3 assets, not all equal).")
    n_forecasts: int
    ic_mean: float | None
    ic_tstat: float | None
    hit_rate: float | None
    rmse: float | None


class SkillReport(ResultModel):
    """Out-of-sample skill of a forecast model, measured walk-forward (each forecast sees only its past)."""

    model_name: str
    model_version: str
    params_hash: str
    settings: ForecastSettings
    data_hash: str = Field(description="SHA-256 of the evaluated returns (dates, columns, values): a cache key.")
    universe: str = Field(description="Comma-separated evaluated series, in column order.")
    window_start: dt.date | None = Field(description="First forecast date.")
    window_end: dt.date | None = Field(description="Last date of realised returns.")
    step: int = Field(description="Periods between forecast dates.")
    horizon: int
    n_dates: int = Field(description="Forecast dates scored.")
    n_ic_dates: int = Field(description="Dates with a defined cross-sectional IC: a date where every forecast "
                                        "is equal (e.g. no signal has confidence) has none.")
    n_forecasts: int
    ic_mean: float | None = Field(description="Mean over dates of the Spearman rank correlation across assets.")
    ic_std: float | None
    ic_tstat: float | None = Field(description="ic_mean / (ic_std / sqrt(n_ic_dates)).")
    hit_rate: float | None = Field(description="Share of forecasts whose sign matches the realised return.")
    hit_rate_mean: float | None = Field(description="The same for the historical-mean baseline.")
    rmse: float | None
    mae: float | None
    rmse_zero: float | None
    mae_zero: float | None
    rmse_mean: float | None = Field(description="RMSE of the historical mean up to each date (compounded).")
    mae_mean: float | None
    by_class: list[ClassSkill] = Field(default_factory=list)
    skill: SkillLevel
    verdict: str = Field(description="The plain-words conclusion shown beside every forecast.")


# --- optimised targets -------------------------------------------------------------------------
class OptimizeSettings(StrictModel):
    """The convex tilt of strategic targets.

    maximise  h·(c∘μ)ᵀw − γ·h·(w − s)ᵀΣ(w − s) − Σ κ_i |w_i − w0_i|
    with h the horizon in years, c the confidence, μ and Σ annualised, s the strategic targets,
    w0 the current weights, κ the one-off cost per unit traded.
    """

    risk_aversion: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        default=5.0, description="γ: weight of the active (tracking) variance against the strategic targets.")
    cost_bps: Annotated[float, Field(ge=0.0, le=10_000.0)] = Field(
        default=10.0, description="One-off transaction cost per unit traded, basis points.")
    turnover_limit: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.25, description="One-way turnover cap: buys as a fraction of portfolio value.")
    max_deviation: Fraction = Field(
        default=0.05, description="|w_i − s_i| ≤ max_deviation × confidence_i: a zero-confidence asset stays put.")
    class_limits: dict[Exposure, ClassLimit] = Field(
        default_factory=dict, description="Bounds on the summed weight of each economic exposure.")
    min_confidence: Fraction = Field(
        default=0.05, description="Below this average confidence the strategic targets are kept.")


class TiltExplanation(ResultModel):
    """Why one asset's optimised target differs from its strategic target (objective terms over h)."""

    symbol: str
    asset_class: str | None
    strategic: float
    current: float
    optimised: float
    tilt: float = Field(description="optimised − strategic.")
    trade: float = Field(description="optimised − current.")
    expected_return: float = Field(description="Annualised forecast μ.")
    confidence: float
    return_term: float = Field(description="h·c·μ·tilt: forecast return gained by the tilt.")
    signal_terms: dict[str, float] = Field(description="return_term split by signal (momentum, mean_reversion, ewma).")
    risk_term: float = Field(description="−γ·h·tilt·(Σ tilt): this asset's share of the active-variance penalty.")
    cost_term: float = Field(description="−κ·|trade|: its transaction cost.")
    max_tilt: float = Field(description="max_deviation × confidence.")
    binding: list[str] = Field(description="Bounds the asset sits on: long_only, max_deviation.")
    reason: str


class OptimizedTargets(ResultModel):
    status: Literal["optimised", "fallback"]
    reason: str = Field(description="What the solver found, or why the strategic targets were kept.")
    solver: str
    solver_status: str | None
    solve_seconds: float | None
    objective: float | None = Field(description="Objective value at the returned targets.")
    weights: dict[str, float] = Field(description="Target weights by symbol (sum to 1).")
    turnover: float = Field(description="One-way turnover from current weights (buys).")
    cost: float = Field(description="Transaction cost as a fraction of value.")
    expected_return: float = Field(description="Confidence-shrunk annualised expected return of the targets.")
    active_volatility: float = Field(description="Annualised tracking volatility against the strategic targets.")
    average_confidence: float
    class_weights: dict[str, float] = Field(default_factory=dict)
    binding: list[str] = Field(default_factory=list, description="Portfolio-level constraints at their limit.")
    assets: list[TiltExplanation]
    warnings: list[str] = Field(default_factory=list)


# --- use-case requests and results (engine.ai_service) ------------------------------------------
class ForecastRequest(StrictModel):
    """Forecast a portfolio's holdings and measure the model's skill on their own history."""

    portfolio: Portfolio
    settings: ForecastSettings | None = Field(
        default=None, description="None: the default settings restated in the history's periods "
                                  "(the same calendar spans: 1 month / 1 year / 3 months / 1 month on daily data).")
    history: AssetHistory | None = Field(
        default=None, description="Return histories to use instead of the bundled market data.")


class OptimizeRequest(StrictModel):
    """Optimised targets for a portfolio: its forecast, then the convex tilt of its strategic targets."""

    portfolio: Portfolio
    forecast: ForecastSettings | None = Field(
        default=None, description="As ForecastRequest.settings.")
    optimize: OptimizeSettings = Field(default_factory=OptimizeSettings)
    history: AssetHistory | None = Field(
        default=None, description="Return histories to use instead of the bundled market data.")


class PortfolioForecast(ResultModel):
    """A portfolio's forecast with its measured out-of-sample skill beside it."""

    forecast: ForecastResult
    skill: SkillReport | None = Field(
        description="Walk-forward skill on the holdings' own history up to the as-of date; None when it "
                    "could not be measured (skill_verdict says why).")
    skill_level: SkillLevel = Field(description="skill.skill, or 'undetermined' when not measured.")
    skill_verdict: str = Field(description="The plain-language conclusion to show beside the forecast.")
    model_version: str = Field(description="name-version+params_hash[:8] of the settings used.")
    frequency: str
    periods_per_year: int
    history_start: dt.date | None = Field(description="First date of the aligned history (None if undated).")
    history_end: dt.date | None
    n_periods: int = Field(description="Aligned returns the forecast and the skill test could use.")
    dated: bool = Field(description="False when the caller's history had no dates (dates are then labels "
                                    "counted back from the portfolio's as-of date).")
    evaluated: list[str] = Field(description="Holdings in the skill test: those with a history of their own or a proxy.")
    proxies: dict[str, str] = Field(default_factory=dict, description="Holding -> series standing in for its history.")
    uncovered: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class PortfolioTargets(ResultModel):
    """Strategic against optimised targets, with the forecast and the skill that drove the tilt.

    Weights are fractions of the portfolio's total value (holdings plus uninvested cash). The
    optimised weights sum to 1 over the holdings: uninvested cash is deployed, counted as buys
    against the turnover limit; a cash *holding* is an ordinary asset with a 0 return and
    confidence 0, so it stays at its strategic target.
    """

    forecast: PortfolioForecast
    targets: OptimizedTargets
    strategic: dict[str, float] = Field(description="Strategic target weights by symbol.")
    current: dict[str, float] = Field(description="Holding value / total value (total includes uninvested cash).")
    cash_weight: float = Field(description="Uninvested cash / total value: what current leaves to 1.")
    warnings: list[str] = Field(default_factory=list)
