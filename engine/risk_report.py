"""The risk panel of a portfolio: metrics before and after trades, contributions, correlation.

Conventions (METRICS.md "Portfolio return series"): each side holds its weights constant
through history (rebalanced every period), ``r_p,t = sum_i w_i r_i,t``, the cash weight earning
``settings.cash_rate`` converted per period. "Before" is the portfolio as it stands (each
holding's value over holdings plus cash); "after" is the given post-trade weights; both are
measured on the same dates, against the same benchmark, in one vectorised pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.errors import DataError, InvalidRequest, RebalancerError
from engine.returns_frame import ReturnsFrame
from engine.risk import (
    correlation_from_covariance,
    covariance,
    drawdown_series,
    metrics_matrix,
    periodic_rate,
    risk_contributions,
)
from engine.schemas import (
    CorrelationMatrix,
    DataWindow,
    Holding,
    Portfolio,
    RiskComparison,
    RiskContribution,
    RiskMetrics,
    RiskReport,
    RiskSettings,
    RiskSide,
    SeriesPoint,
)

__all__ = ["CASH", "current_weights", "risk_comparison", "risk_report"]

#: Key of the uninvested cash balance in weight dictionaries (as in RebalanceResult).
CASH = "CASH"
#: Post-trade weights must sum to 1 within this (as target weights do).
WEIGHT_SUM_TOLERANCE = 1e-6


def _is_cash_key(symbol: str) -> bool:
    return symbol.upper() == CASH


def current_weights(portfolio: Portfolio) -> dict[str, float]:
    """Each holding's value over the total value (holdings plus cash), plus ``"CASH"``.

    A holding named ``CASH`` is cash (as in the rebalancer's post-trade weights): its value
    is added to the cash balance's weight.

    Raises
    ------
    InvalidRequest
        If the portfolio has no value (nothing held and no cash): it has no weights.
    """
    total = portfolio.total_value
    if not total > 0.0:
        raise InvalidRequest("the portfolio has no value (no quantities and no cash), so it has no weights",
                             [{"loc": ["portfolio"], "msg": "total value is 0", "type": "value_error"}])
    weights = {h.symbol: h.value / total for h in portfolio.holdings if not _is_cash_key(h.symbol)}
    cash = portfolio.cash + sum(h.value for h in portfolio.holdings if _is_cash_key(h.symbol))
    weights[CASH] = cash / total
    return weights


def _post_trade_vector(weights: Mapping[str, float], keys: list[str]) -> np.ndarray:
    """Post-trade weights in ``keys`` order (missing keys hold 0), validated."""
    index = {k.upper(): i for i, k in enumerate(keys)}
    out = np.zeros(len(keys))
    errors = []
    for key, w in weights.items():
        i = index.get(str(key).upper())
        if i is None:
            errors.append({"loc": ["post_trade_weights", key], "msg": "not a holding of the portfolio, nor 'CASH'",
                           "type": "value_error"})
        elif not (math.isfinite(w) and 0.0 <= w <= 1.0):
            errors.append({"loc": ["post_trade_weights", key], "msg": "must be a weight in [0, 1]",
                           "type": "value_error"})
        else:
            out[i] += w
    if not errors and abs(out.sum() - 1.0) > WEIGHT_SUM_TOLERANCE:
        errors.append({"loc": ["post_trade_weights"], "type": "value_error",
                       "msg": f"weights sum to {out.sum():.6f}; they must sum to 1 (±{WEIGHT_SUM_TOLERANCE:g})"})
    if errors:
        raise InvalidRequest(f"{len(errors)} invalid post-trade weight{'s' if len(errors) != 1 else ''}", errors)
    return out


def _asset_returns(frame: ReturnsFrame, holdings: list[Holding], cash_p: float) -> np.ndarray:
    """The holdings' returns, shape (T, N), in ``holdings`` order. Holdings with no history and
    no proxy (``uncovered``: "treated as cash") and cash holdings without a series (their
    column is all zeros) earn the cash rate, like the cash balance."""
    symbols = [h.symbol for h in holdings]
    data = frame.returns
    if list(data.columns) != symbols:
        missing = [s for s in symbols if s not in data.columns]
        if missing:
            raise DataError(f"the return history has no column for {', '.join(missing)}")
        data = data[symbols]
    R = data.to_numpy(dtype=float)  # no copy when the frame is already float, in order
    if not np.isfinite(R).all():
        raise DataError("the return history contains NaN or infinite values")
    uncovered = set(frame.uncovered)
    as_cash = [i for i, h in enumerate(holdings)
               if h.symbol in uncovered or (h.effective_exposure == "cash" and h.symbol not in frame.proxies
                                            and not R[:, i].any())]
    if as_cash and cash_p != 0.0:
        R = R.copy()
        R[:, as_cash] = cash_p
    return R


def _benchmark(portfolio: Portfolio, frame: ReturnsFrame, settings: RiskSettings, R: np.ndarray,
               cash_p: float) -> tuple[np.ndarray | None, list[str]]:
    """Benchmark returns on the frame's dates and any warning about them."""
    choice = settings.benchmark
    if choice is None:
        return None, []
    if choice == "targets":
        invested = 1.0 - settings.target_cash_weight
        targets = invested * np.array([h.target_weight for h in portfolio.holdings if not _is_cash_key(h.symbol)])
        cash_target = invested * sum(h.target_weight for h in portfolio.holdings if _is_cash_key(h.symbol))
        return R @ targets + (cash_target + settings.target_cash_weight) * cash_p, []
    try:
        from engine.market_data import series_returns_like

        series = series_returns_like(choice, frame).reindex(frame.returns.index)
    except RebalancerError as exc:
        return None, [f"benchmark '{choice}' not used: {exc.message}"]
    b = series.to_numpy(dtype=float)
    gaps = int((~np.isfinite(b)).sum())
    if gaps:
        return None, [f"benchmark '{choice}' has no data for {gaps} of {len(b)} periods of the window; "
                      "tracking error, information ratio and beta are not computed"]
    return b, []


def _window(frame: ReturnsFrame, *, every_date: bool = True) -> tuple[DataWindow, list | None]:
    """The data window, and (with ``every_date``) every return date as ``datetime.date`` for the series."""
    idx = frame.returns.index
    days = None
    if frame.dated:
        naive = idx.tz_localize(None) if idx.tz is not None else idx
        days = naive.to_numpy().astype("datetime64[D]")
    window = DataWindow(start=days[0].item() if days is not None and len(days) else None,
                        end=days[-1].item() if days is not None and len(days) else None,
                        n_periods=len(idx), frequency=frame.frequency, periods_per_year=frame.periods_per_year)
    return window, (days.tolist() if every_date and days is not None else None)


def _metrics(values: dict[str, np.ndarray], j: int) -> RiskMetrics:
    return RiskMetrics(**{k: (float(v[j]) if math.isfinite(v[j]) else None) for k, v in values.items()})


def _side(keys: list[str], w: np.ndarray, metrics: RiskMetrics, contrib: np.ndarray, r: np.ndarray,
          dates: list | None) -> RiskSide:
    vol = metrics.volatility
    rows = [RiskContribution(symbol=k, weight=float(w[i]), contribution=float(contrib[i]),
                             contribution_pct=float(contrib[i] / vol) if vol else None)
            for i, k in enumerate(keys)]
    wealth = np.cumprod(1.0 + r)
    return RiskSide(
        weights=dict(zip(keys, w.tolist(), strict=True)),
        metrics=metrics,
        contributions=rows,
        cumulative_return=SeriesPoint(dates=dates, values=(wealth - 1.0).tolist()),
        drawdown=SeriesPoint(dates=dates, values=drawdown_series(r).tolist()),
    )


@dataclass(frozen=True)
class _Measured:
    """Both sides' return series and metrics: what the full report and the summary share."""

    symbols: list[str]      # holdings that are not cash
    keys: list[str]         # symbols, then CASH
    R: np.ndarray           # (T, N) holdings' returns
    weights: np.ndarray     # (N + 1, S) before (and after) weights, holdings then CASH
    port: np.ndarray        # (T, S) each side's return series
    P: int
    values: dict[str, np.ndarray]
    warnings: tuple[str, ...]


def _measure(portfolio: Portfolio, frame: ReturnsFrame, settings: RiskSettings,
             post_trade_weights: dict[str, float] | None) -> _Measured:
    held = [h for h in portfolio.holdings if not _is_cash_key(h.symbol)]
    symbols = [h.symbol for h in held]
    keys = [*symbols, CASH]
    P = frame.periods_per_year
    cash_p = periodic_rate(settings.cash_rate, P)
    R = _asset_returns(frame, held, cash_p)
    before = current_weights(portfolio)
    sides = [np.array([before[k] for k in keys])]
    if post_trade_weights is not None:
        sides.append(_post_trade_vector(post_trade_weights, keys))
    weights = np.column_stack(sides)  # (N + 1, S): holdings, then CASH
    port = R @ weights[:-1] + weights[-1] * cash_p  # (T, S): constant weights, rebalanced every period
    bench, warnings = _benchmark(portfolio, frame, settings, R, cash_p)
    values = metrics_matrix(port, bench, risk_free_rate=settings.risk_free_rate, periods_per_year=P)
    return _Measured(symbols, keys, R, weights, port, P, values, tuple(warnings))


def risk_comparison(portfolio: Portfolio, frame: ReturnsFrame, settings: RiskSettings,
                    post_trade_weights: dict[str, float]) -> RiskComparison:
    """The METRICS.md metrics before and after trades, the window and the warnings: the figures
    of :func:`risk_report` without its series, contributions and correlation (what the REST
    rebalance response carries). Same arguments and errors as :func:`risk_report`."""
    m = _measure(portfolio, frame, settings, post_trade_weights)
    return RiskComparison(
        before=_metrics(m.values, 0), after=_metrics(m.values, 1), window=_window(frame, every_date=False)[0],
        warnings=_dedupe([*frame.warnings, *_own_warnings(portfolio, frame), *m.warnings]),
    )


def risk_report(portfolio: Portfolio, frame: ReturnsFrame, settings: RiskSettings,
                post_trade_weights: dict[str, float] | None = None) -> RiskReport:
    """The risk panel: METRICS.md metrics of the portfolio before (and after) trades.

    Parameters
    ----------
    portfolio : Portfolio
        Holdings and cash as they stand; their values give the "before" weights.
    frame : ReturnsFrame
        Aligned returns with one column per holding (see :mod:`engine.returns_frame`).
    settings : RiskSettings
        Benchmark (a bundled symbol, ``"targets"`` or None), annual risk-free and cash rates.
    post_trade_weights : dict, optional
        Weights after trades by symbol plus ``"CASH"`` (missing symbols hold 0); sums to 1.
        A holding named ``CASH`` is cash on both sides (the rebalancer's convention).

    Returns
    -------
    RiskReport
        Contributions are Euler contributions to annualised volatility (holdings and CASH);
        series are per return date (cumulative return ``W_t - 1``, drawdown as a positive
        fraction); the correlation is over the holdings' return columns.

    Raises
    ------
    InvalidRequest
        Post-trade weights naming an unknown symbol, outside [0, 1] or not summing to 1; a
        portfolio with no value.
    DataError
        The frame lacks a holding's column or contains non-finite values.
    """
    m = _measure(portfolio, frame, settings, post_trade_weights)
    symbols, keys, R, weights, port, P, warnings = m.symbols, m.keys, m.R, m.weights, m.port, m.P, list(m.warnings)
    sides = range(weights.shape[1])
    window, dates = _window(frame)
    if len(symbols) <= FULL_MATRIX_LIMIT:
        cov, corr = _covariances(R, P)
        contributions = [risk_contributions(weights[:, j], cov) for j in sides]
        corr_symbols = symbols
    else:
        contributions = [_contributions_large(R, weights[:, j], P) for j in sides]
        top = np.sort(np.argsort(-weights[:-1, 0], kind="stable")[:CORRELATION_LIMIT])
        corr_symbols = [symbols[i] for i in top]
        corr = _covariances(R[:, top], P)[1]
        warnings.append(f"the correlation matrix shows the {CORRELATION_LIMIT} largest of {len(symbols)} holdings")
    built = [_side(keys, weights[:, j], _metrics(m.values, j), contributions[j], port[:, j], dates) for j in sides]
    return RiskReport(
        before=built[0],
        after=built[1] if len(built) > 1 else None,
        benchmark=settings.benchmark,
        window=window,
        correlation=CorrelationMatrix(symbols=corr_symbols, matrix=corr),
        proxies=dict(frame.proxies),
        uncovered=list(frame.uncovered),
        warnings=_dedupe([*frame.warnings, *_own_warnings(portfolio, frame), *warnings]),
    )


#: Above this many holdings the report avoids N × N matrices: contributions come from each
#: holding's covariance with the portfolio, and the correlation lists the largest holdings.
FULL_MATRIX_LIMIT = 200
CORRELATION_LIMIT = 50


def _contributions_large(R: np.ndarray, w: np.ndarray, P: int) -> np.ndarray:
    """Euler contributions without the N × N covariance: ``(Σw)_i = cov(r_i, R w)``, annualised.

    ``w`` is holdings then CASH; cash earns a constant rate, so it adds no covariance."""
    if R.shape[0] < 2:
        return np.zeros_like(w)
    # Σ_t (r_ti − r̄_i)(p_t − p̄) = Σ_t r_ti (p_t − p̄): two matrix-vector products, no T × N
    # matrix of deviations (hundreds of MB for thousands of daily holdings).
    p = R @ w[:-1]
    sigma_w = np.append(R.T @ (p - p.mean()) / (R.shape[0] - 1), 0.0) * P
    var_p = float(w @ sigma_w)
    if var_p <= 0.0:
        return np.zeros_like(w)
    return w * sigma_w / np.sqrt(var_p)


def _covariances(R: np.ndarray, P: int) -> tuple[np.ndarray, list[list[float | None]]]:
    """Annualised covariance of holdings plus CASH (a zero row and column: cash earns a
    constant per-period rate, so it has no variance), and the holdings' correlation."""
    T, N = R.shape
    cov = np.zeros((N + 1, N + 1))
    if T < 2:
        return cov, [[None] * N for _ in range(N)]
    c, flat = covariance(R)
    cov[:N, :N] = c * P
    return cov, correlation_from_covariance(c, flat)


def _own_warnings(portfolio: Portfolio, frame: ReturnsFrame) -> list[str]:
    out = []
    T = len(frame.returns.index)
    if T < 2:
        out.append(f"only {T} return period{'s' if T != 1 else ''} in the window: "
                   "risk metrics need at least 2 and are not computed")
    cash_named = [h.symbol for h in portfolio.holdings if _is_cash_key(h.symbol)]
    if cash_named:
        out.append(f"holding '{cash_named[0]}' is counted as cash (weight key 'CASH', earning the cash rate)")
    if frame.uncovered:
        out.append(f"no history and no proxy for {', '.join(frame.uncovered)}: treated as cash in the risk figures")
    return out


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
