"""AI-assisted targets as use cases: a portfolio's forecast with its measured skill, and its optimised targets.

The faces call these through :mod:`engine.service`; each takes a request model (or a plain
dict, validated with :func:`engine.service.validate`) and returns a result model.

* The history is the portfolio's own: :func:`engine.market_data.portfolio_returns` (bundled
  data, proxies where a holding has none, cut at ``portfolio.as_of``), or the caller's history.
* The skill shown beside a forecast is measured walk-forward on that same history, on the
  holdings that have one (a 0-return column of cash or of an uncovered holding carries no
  information), with the same settings. Every forecast in the test sees only its past, and the
  history itself ends at the as-of date, so the skill never uses data the forecast could not.
* Default settings follow the data's frequency: :func:`default_settings` restates the daily
  defaults (1 month momentum, 1 year long window, 3 months half-life, 1 month horizon) in the
  history's periods, so a monthly history (any portfolio holding a monthly series) is not
  asked for 21 years of data.

Cash: current weights are holding value / total value (total includes uninvested cash), so
they sum to 1 − cash weight. The optimised weights sum to 1 over the holdings: uninvested cash
is deployed, and counts as buys against the turnover limit. A cash *holding* is an ordinary
asset with a 0 return and confidence 0, so it stays at its strategic target.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InsufficientData, InvalidRequest
from engine.forecast import MODEL_NAME, MODEL_VERSION, params_hash
from engine.returns_frame import ReturnsFrame
from engine.schemas import AssetHistory, Portfolio
from engine.schemas.ai import (
    ForecastRequest,
    ForecastSettings,
    OptimizeRequest,
    PortfolioForecast,
    PortfolioTargets,
    SkillReport,
)

#: Walk-forward reports kept in memory, keyed by (data hash, settings, classes).
SKILL_CACHE_SIZE = 32
#: Period alias per periods-per-year for labelling an undated history.
_ALIASES: dict[int, str] = {252: "B", 52: "W-FRI", 12: "ME", 4: "QE", 1: "YE", 365: "D", 366: "D"}
_DAILY = 252

__all__ = ["SKILL_CACHE_SIZE", "default_settings", "forecast_portfolio", "model_version",
           "optimize_portfolio", "plain_verdict"]


def model_version(settings: ForecastSettings | None = None) -> str:
    """``"<name>-<version>+<params hash[:8]>"`` of ``settings`` (default: the daily defaults)."""
    return f"{MODEL_NAME}-{MODEL_VERSION}+{params_hash(settings or ForecastSettings())[:8]}"


def default_settings(periods_per_year: int) -> ForecastSettings:
    """The default settings restated in periods of a history with ``periods_per_year`` P.

    The daily defaults (21 / 252 / 63 / 21 business days) keep their calendar spans, rounded,
    within the settings' minimums: monthly data gets 2 / 12 / 3 / 1 months, weekly 4 / 52 / 13 / 4
    weeks. Daily data gets exactly :class:`ForecastSettings` ``()``.
    """
    base = ForecastSettings()
    f = periods_per_year / _DAILY
    short = max(2, round(base.short_window * f))
    return ForecastSettings(
        short_window=short, long_window=max(short + 1, round(base.long_window * f)),
        half_life=max(1.0, base.half_life * f), horizon=max(1, round(base.horizon * f)),
        reversion_strength=base.reversion_strength,
    )


# --- use cases ---------------------------------------------------------------------------------
def forecast_portfolio(data: ForecastRequest | Mapping[str, Any]) -> PortfolioForecast:
    """Each holding's forecast (return, confidence, signals) with the model's measured skill beside it.

    Raises
    ------
    InvalidRequest
        The request fails validation.
    InsufficientData, DataError
        No usable history (fewer than 3 returns, unknown proxy, …).
    """
    from engine.service import validate

    request = validate(ForecastRequest, data)
    return _forecast(request.portfolio, request.settings, request.history)[0]


def optimize_portfolio(data: OptimizeRequest | Mapping[str, Any]) -> PortfolioTargets:
    """Optimised targets around the strategic ones, with the forecast and skill that produced them.

    The expected returns and confidences are the portfolio's forecast; the covariance is
    :func:`engine.forecast.point_in_time_covariance` on the same window. A fallback to the
    strategic targets (low confidence, infeasible limits, solver failure) is a result with
    ``targets.status == "fallback"`` and the reason in ``targets.reason``, not an error.

    Raises
    ------
    InvalidRequest
        The request fails validation, or the portfolio is worth 0.
    InsufficientData, DataError
        No usable history.
    """
    from engine.forecast import point_in_time_covariance
    from engine.optimize import OptimizeInputs, optimize_targets
    from engine.service import validate

    request = validate(OptimizeRequest, data)
    p = request.portfolio
    total = p.total_value
    if not total > 0:
        raise InvalidRequest("the portfolio is worth 0: there are no current weights to optimise from",
                             [{"loc": ["portfolio"], "msg": "holdings and cash are worth 0", "type": "value_error"}])
    result, frame = _forecast(p, request.forecast, request.history)
    fc = result.forecast
    covariance = point_in_time_covariance(frame, settings=fc.settings)
    strategic = np.array([h.target_weight for h in p.holdings])
    strategic = strategic / strategic.sum()  # the schema allows a 1e-6 slack; the optimiser wants 1
    current = np.array([h.value for h in p.holdings]) / total
    inputs = OptimizeInputs.from_forecast(fc, covariance, strategic, current,
                                          classes=[h.effective_exposure for h in p.holdings])
    targets = optimize_targets(inputs, request.optimize)
    cash_weight = p.cash / total
    warnings = []
    if cash_weight > 0:
        warnings.append(f"uninvested cash ({cash_weight:.2%} of the value) is deployed by the targets; "
                        "buying with it counts against the turnover limit")
    return PortfolioTargets(
        forecast=result, targets=targets,
        strategic={h.symbol: float(s) for h, s in zip(p.holdings, strategic, strict=True)},
        current={h.symbol: float(c) for h, c in zip(p.holdings, current, strict=True)},
        cash_weight=float(cash_weight), warnings=warnings,
    )


# --- the forecast and its skill ----------------------------------------------------------------
def _forecast(portfolio: Portfolio, settings: ForecastSettings | None, history: AssetHistory | None
              ) -> tuple[PortfolioForecast, ReturnsFrame]:
    """(the forecast with its skill, the dated frame it was computed on)."""
    from engine.forecast import forecast
    from engine.market_data import portfolio_returns

    frame = portfolio_returns(portfolio, history=history)
    dated = frame.dated
    frame = _with_dates(frame, portfolio.as_of)
    settings = settings or default_settings(frame.periods_per_year)
    fc = forecast(frame, settings=settings)
    values = frame.returns.to_numpy(dtype=float)
    evaluated = [h.symbol for j, h in enumerate(portfolio.holdings)
                 if h.symbol not in frame.uncovered and np.any(values[:, j] != 0.0)]
    classes = {h.symbol: h.effective_exposure for h in portfolio.holdings if h.symbol in evaluated}
    skill, why = _skill(frame.returns[evaluated], fc.settings, classes)
    index = frame.returns.index
    result = PortfolioForecast(
        forecast=fc, skill=skill, skill_level=skill.skill if skill else "undetermined",
        skill_verdict=plain_verdict(skill, why, evaluated), model_version=model_version(fc.settings),
        frequency=frame.frequency, periods_per_year=frame.periods_per_year,
        history_start=index[0].date() if dated else None, history_end=index[-1].date() if dated else None,
        n_periods=len(index), dated=dated, evaluated=evaluated, proxies=dict(frame.proxies),
        uncovered=list(frame.uncovered), warnings=list(dict.fromkeys([*frame.warnings, *fc.warnings])),
    )
    return result, frame


def _with_dates(frame: ReturnsFrame, end: dt.date | None) -> ReturnsFrame:
    """The frame itself if dated; else its periods labelled back from ``end`` (default today).

    The forecast and the walk-forward need a dated index; the labels only name the periods
    (P, hence every annualised figure, comes from the history's ``periods_per_year``).
    """
    if frame.dated:
        return frame
    end = end or dt.date.today()
    p = frame.periods_per_year
    freq = _ALIASES.get(p) or pd.Timedelta(days=365.25 / p)
    index = pd.date_range(end=pd.Timestamp(end), periods=len(frame.returns), freq=freq, name="date")
    warning = (f"the supplied history has no dates: its {len(index)} periods are labelled back from {end}, "
               "so the forecast's as-of date and the skill test's dates are labels, not market dates")
    return dataclasses.replace(frame, returns=frame.returns.set_axis(index, axis=0),
                               warnings=[*frame.warnings, warning])


@dataclasses.dataclass(frozen=True)
class _Panel:
    """A returns panel that hashes and compares by its data hash (an lru_cache key)."""

    data_hash: str
    returns: pd.DataFrame = dataclasses.field(compare=False, hash=False, repr=False)


@functools.lru_cache(maxsize=SKILL_CACHE_SIZE)
def _walk_forward_cached(panel: _Panel, settings_json: str, classes: tuple[tuple[str, str], ...]) -> SkillReport:
    """Pure in its arguments: the same data, settings and classes give the same report."""
    from engine.evaluation import walk_forward

    return walk_forward(panel.returns, ForecastSettings.model_validate_json(settings_json), classes=dict(classes))


def _skill(returns: pd.DataFrame, settings: ForecastSettings, classes: Mapping[str, str]
           ) -> tuple[SkillReport | None, str]:
    """(walk-forward report, why there is none)."""
    from engine.evaluation import data_hash

    if returns.shape[1] == 0:
        return None, "no holding has a price history of its own or a proxy"
    panel = _Panel(data_hash(returns), returns)
    try:
        report = _walk_forward_cached(panel, settings.model_dump_json(), tuple(sorted(classes.items())))
    except InsufficientData as exc:
        return None, exc.message
    return report.model_copy(deep=True), ""  # a copy: callers may not edit the cached report


_HEADLINES = {
    "moderate": "The forecast has shown measurable out-of-sample skill on these holdings' own history.",
    "weak": "The forecast has shown only weak out-of-sample skill on these holdings' own history: "
            "use its tilts with care.",
    "none": "The forecast has no measured out-of-sample skill on these holdings' own history: "
            "treat its tilts as unproven.",
    "negative": "The forecast has negative out-of-sample skill on these holdings' own history (it ranked "
                "them the wrong way): do not rely on its tilts.",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plain_verdict(report: SkillReport | None, why: str, evaluated: Sequence[str]) -> str:
    """The sentence shown beside a forecast: a plain headline, then the evidence in numbers."""
    if report is None:
        return f"The forecast's skill was not measured ({why}): treat its tilts as unproven."
    if report.skill == "undetermined":
        from engine.evaluation import MIN_ASSETS_FOR_IC, MIN_DATES_FOR_VERDICT

        cause = (f"ranking skill needs at least {MIN_ASSETS_FOR_IC} holdings with a history; "
                 f"this test has {len(evaluated)}" if len(evaluated) < MIN_ASSETS_FOR_IC else
                 f"only {_count(report.n_ic_dates, 'test date')} could be scored, {MIN_DATES_FOR_VERDICT} are needed")
        headline = (f"The forecast's skill could not be established on these holdings' own history ({cause}): "
                    "treat its tilts as unproven.")
    else:
        headline = _HEADLINES[report.skill]
    evidence = (f" Walk-forward test {report.window_start} to {report.window_end}, "
                f"{_count(report.n_dates, 'forecast date')}, {report.horizon}-period horizon: {report.verdict}.")
    if report.hit_rate is not None:
        evidence += f" Direction right {report.hit_rate:.0%} of the time"
        if report.hit_rate_mean is not None:
            evidence += f" (the historical mean: {report.hit_rate_mean:.0%})"
        evidence += "."
    return headline + evidence


def ai_targets_policy(portfolio: Portfolio, periods_per_year: int,
                      forecast_settings: ForecastSettings | None = None,
                      optimize_settings: Any = None) -> Callable[[dt.date, pd.DataFrame], dict[str, float] | None]:
    """A backtest ``targets_fn``: at each decision date, forecast with the history up to that
    date only, and optimise the strategic targets around that forecast.

    The backtest hands the function only returns dated on or before the decision date, so the
    policy is point-in-time by construction. The turnover limit is measured from the strategic
    targets (the function is not told the drifted weights); a fallback keeps the strategic
    targets, exactly as the live optimiser would.
    """
    from engine.forecast import forecast, point_in_time_covariance
    from engine.optimize import OptimizeInputs, optimize_targets
    from engine.schemas.ai import OptimizeSettings

    f_settings = forecast_settings or default_settings(periods_per_year)
    o_settings = optimize_settings or OptimizeSettings()
    strategic = {h.symbol: h.target_weight for h in portfolio.holdings}
    classes = {h.symbol: h.effective_exposure for h in portfolio.holdings}

    def targets_fn(as_of: dt.date, returns: pd.DataFrame) -> dict[str, float] | None:
        symbols = [str(c) for c in returns.columns if str(c) in strategic]
        if len(returns) <= f_settings.long_window or not symbols:
            return None  # not enough history yet: the backtest keeps the strategic targets
        frame = returns[symbols]
        result = forecast(frame, as_of, f_settings)
        cov = point_in_time_covariance(frame, as_of, f_settings)
        w0 = np.array([strategic[s] for s in symbols])
        inputs = OptimizeInputs.from_forecast(result, cov, w0, w0, classes=[classes[s] for s in symbols])
        return dict(optimize_targets(inputs, o_settings).weights)

    return targets_fn
