"""Honest, walk-forward evaluation of the forecast ensemble.

At each forecast date ``t`` (every ``step`` periods) the ensemble forecasts the compounded
return over the next ``horizon`` periods from rows ``<= t`` only; the forecast is then scored
against what happened. Scores: the information coefficient (Spearman rank correlation across
assets per date, averaged, with its t-statistic), the hit rate (sign accuracy), and RMSE / MAE
beside two naive baselines (zero, and the historical mean up to ``t``). With the default
``step = horizon`` the scored windows do not overlap, so the IC t-statistic is not inflated by
overlapping returns. The verdict is computed from those numbers, never asserted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InsufficientData
from engine.forecast import MODEL_NAME, MODEL_VERSION, ensemble, params_hash
from engine.schemas.ai import ClassSkill, ForecastSettings, SkillReport

#: Bundled daily series with a common history 1990–2017: 13 equity, 2 commodity, 3 FX.
DEFAULT_UNIVERSE: tuple[str, ...] = (
    "SPX", "AAPL", "JPM", "BAC", "XOM", "WMT", "PFE", "GE", "T", "MSFT", "JNJ", "KO", "PG",
    "WTI", "BRENT", "USDJPY", "USDGBP", "USDCHF",
)
MIN_ASSETS_FOR_IC = 3
MIN_DATES_FOR_VERDICT = 10
T_SIGNIFICANT = 2.0
IC_MODERATE = 0.05

__all__ = [
    "DEFAULT_UNIVERSE",
    "bundled_returns",
    "data_hash",
    "evaluate_bundled",
    "score_forecasts",
    "verdict",
    "walk_forward",
    "walk_forward_panels",
]


# --- scoring (pure) ----------------------------------------------------------------------------
def _rank_ic(forecasts: np.ndarray, realised: np.ndarray) -> np.ndarray:
    """Spearman correlation across columns, per row; NaN where < 3 pairs or a constant row."""
    valid = np.isfinite(forecasts) & np.isfinite(realised)
    n = valid.sum(axis=1)
    nn = np.maximum(n, 1)[:, None]

    def centred_ranks(x: np.ndarray) -> np.ndarray:
        # Average ranks of the valid entries (ties share their mean rank), as scipy's rankdata,
        # without scipy.stats' 0.7 s import on the pipeline's path.
        ranks = pd.DataFrame(np.where(valid, x, np.nan)).rank(axis=1, method="average").to_numpy()
        ranks = np.where(valid, ranks, 0.0)
        return np.where(valid, ranks - ranks.sum(axis=1, keepdims=True) / nn, 0.0)

    fc, rc = centred_ranks(forecasts), centred_ranks(realised)
    num = (fc * rc).sum(axis=1)
    den = np.sqrt((fc**2).sum(axis=1) * (rc**2).sum(axis=1))
    ok = (n >= MIN_ASSETS_FOR_IC) & (den > 0)
    return np.divide(num, den, out=np.full(n.shape, np.nan), where=ok)


def _ic_stats(ic: np.ndarray) -> tuple[int, float | None, float | None, float | None]:
    """(n dates, mean, std (ddof 1), t-stat); the t-stat is None when the std is 0 or undefined."""
    ic = ic[np.isfinite(ic)]
    n = int(ic.size)
    if n == 0:
        return 0, None, None, None
    mean = float(ic.mean())
    if n < 2:
        return n, mean, None, None
    std = float(ic.std(ddof=1))
    return n, mean, std, (mean / (std / np.sqrt(n)) if std > 0 else None)


def _errors(pred: np.ndarray, realised: np.ndarray, valid: np.ndarray) -> tuple[float | None, float | None]:
    if not valid.any():
        return None, None
    e = (pred - realised)[valid]
    return float(np.sqrt(np.mean(e**2))), float(np.mean(np.abs(e)))


def _hit_rate(pred: np.ndarray, realised: np.ndarray, valid: np.ndarray) -> float | None:
    """Sign accuracy over pairs where neither the forecast nor the outcome is exactly 0."""
    both = valid & (pred != 0) & (realised != 0)
    return float(np.mean(np.sign(pred[both]) == np.sign(realised[both]))) if both.any() else None


def score_forecasts(forecasts: np.ndarray, realised: np.ndarray, baseline_mean: np.ndarray | None = None,
                    classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Skill numbers of a panel of forecasts against outcomes.

    Parameters
    ----------
    forecasts, realised : ndarray, shape (D, N)
        Forecast and realised returns over the same horizon, one row per forecast date. A pair
        with a NaN on either side is left out.
    baseline_mean : ndarray, shape (D, N), optional
        The historical-mean baseline's forecasts (the zero baseline needs none).
    classes : sequence of str, length N, optional
        Asset class per column, for the per-class breakdown (IC only where a class has at
        least 3 assets).

    Returns
    -------
    dict
        ``n_dates`` (with any scored pair), ``n_ic_dates``, ``n_forecasts``, ``ic_mean``, ``ic_std``, ``ic_tstat``, ``hit_rate``,
        ``hit_rate_mean``, ``rmse``, ``mae``, ``rmse_zero``, ``mae_zero``, ``rmse_mean``,
        ``mae_mean`` and ``by_class`` (list of dicts); ``None`` where not computable.
    """
    f, r = np.asarray(forecasts, dtype=float), np.asarray(realised, dtype=float)
    valid = np.isfinite(f) & np.isfinite(r)
    n_ic, ic_mean, ic_std, ic_t = _ic_stats(_rank_ic(f, r))
    rmse, mae = _errors(f, r, valid)
    rmse0, mae0 = _errors(np.zeros_like(r), r, valid)
    out: dict[str, Any] = {
        "n_dates": int(valid.any(axis=1).sum()), "n_ic_dates": n_ic, "n_forecasts": int(valid.sum()), "ic_mean": ic_mean, "ic_std": ic_std,
        "ic_tstat": ic_t, "hit_rate": _hit_rate(f, r, valid), "rmse": rmse, "mae": mae,
        "rmse_zero": rmse0, "mae_zero": mae0, "rmse_mean": None, "mae_mean": None, "hit_rate_mean": None,
    }
    if baseline_mean is not None:
        m = np.asarray(baseline_mean, dtype=float)
        valid_m = valid & np.isfinite(m)
        out["rmse_mean"], out["mae_mean"] = _errors(m, r, valid_m)
        out["hit_rate_mean"] = _hit_rate(m, r, valid_m)
    out["by_class"] = _by_class(f, r, valid, classes) if classes is not None else []
    return out


def _by_class(f: np.ndarray, r: np.ndarray, valid: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    labels = np.asarray(list(classes), dtype=object)
    rows = []
    for name in sorted(set(labels.tolist())):
        cols = labels == name
        n_ic, ic_mean, _, ic_t = _ic_stats(_rank_ic(f[:, cols], r[:, cols]))
        rmse, _ = _errors(f[:, cols], r[:, cols], valid[:, cols])
        rows.append({"asset_class": str(name), "n_assets": int(cols.sum()), "n_ic_dates": n_ic,
                     "n_forecasts": int(valid[:, cols].sum()), "ic_mean": ic_mean, "ic_tstat": ic_t,
                     "hit_rate": _hit_rate(f[:, cols], r[:, cols], valid[:, cols]), "rmse": rmse})
    return rows


def verdict(scores: Mapping[str, Any], *, overlapping: bool = False) -> tuple[str, str]:
    """The skill level and the plain sentence shown beside a forecast, from the numbers alone.

    ``|t| < 2``: no measurable skill; ``t ≥ 2``: weak skill when the mean IC is below 0.05,
    measurable skill otherwise; ``t ≤ −2``: negative skill. Fewer than 10 scored dates: undetermined.
    """
    n, ic, std, t = scores["n_ic_dates"], scores["ic_mean"], scores["ic_std"], scores["ic_tstat"]
    if n < MIN_DATES_FOR_VERDICT or ic is None:
        return "undetermined", f"skill undetermined: only {n} dates with a cross-sectional IC (need {MIN_DATES_FOR_VERDICT})"
    if t is None:  # every date had the same IC (e.g. a perfect ranking every time)
        level = "moderate" if ic >= IC_MODERATE else ("negative" if ic < 0 else "none")
    elif t <= -T_SIGNIFICANT:
        level = "negative"
    elif t < T_SIGNIFICANT:
        level = "none"
    else:
        level = "weak" if ic < IC_MODERATE else "moderate"
    label = {"none": "no measurable skill", "weak": "weak skill", "moderate": "measurable skill",
             "negative": "negative skill (ranks assets the wrong way)"}[level]
    se = std / np.sqrt(n) if std is not None else 0.0
    text = f"{label}: IC {ic:.2f} ± {se:.2f} over {n} dates"
    if scores.get("rmse") is not None and scores.get("rmse_mean") is not None:
        better = "beats" if scores["rmse"] < min(scores["rmse_mean"], scores["rmse_zero"]) else "does not beat"
        text += (f"; RMSE {scores['rmse']:.4f} {better} the naive baselines "
                 f"(historical mean {scores['rmse_mean']:.4f}, zero {scores['rmse_zero']:.4f})")
    if overlapping:
        text += " (overlapping horizons: the t-statistic overstates significance)"
    return level, text


# --- walk-forward ------------------------------------------------------------------------------
def data_hash(returns: pd.DataFrame) -> str:
    """SHA-256 of the dates, column names and values (NaN-canonical): a cache key for a report."""
    h = hashlib.sha256()
    h.update(np.asarray(returns.index.asi8 if isinstance(returns.index, pd.DatetimeIndex)
                        else np.arange(len(returns)), dtype=np.int64).tobytes())
    h.update("\x1f".join(map(str, returns.columns)).encode("utf-8"))
    values = np.ascontiguousarray(returns.to_numpy(dtype=float))
    h.update(np.where(np.isnan(values), np.nan, values).tobytes())
    return h.hexdigest()


def walk_forward_panels(values: np.ndarray, settings: ForecastSettings, step: int,
                        first: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forecast, realised and historical-mean panels of a walk-forward run (pure numpy).

    Parameters
    ----------
    values : ndarray, shape (T, N)
        Simple returns, oldest first (NaN = missing).
    settings : ForecastSettings
    step : int
        Periods between forecast dates.
    first : int, optional
        Row of the first forecast date; default ``long_window - 1`` (the first full window).

    Returns
    -------
    positions : ndarray, shape (D,)
        Row of each forecast date ``t``; only dates with a full horizon after them.
    forecasts, realised, hist_mean : ndarray, shape (D, N)
        ``(1 + m)^H − 1`` for the ensemble mean ``m`` from rows ``<= t``; the compounded
        return of rows ``t+1 .. t+H``; and ``(1 + mean of rows <= t)^H − 1``.
    """
    x = np.asarray(values, dtype=float)
    h, window = settings.horizon, settings.long_window
    first = window - 1 if first is None else first
    positions = np.arange(first, x.shape[0] - h, step)
    if positions.size == 0:
        raise InsufficientData(f"{x.shape[0]} returns leave no forecast date with {window} periods of "
                               f"history and {h} after it")
    forecasts = np.stack([(1.0 + ensemble(x[max(0, i - window + 1): i + 1], settings)["mean"]) ** h - 1.0
                          for i in positions])
    growth = np.lib.stride_tricks.sliding_window_view(1.0 + x, h, axis=0).prod(axis=-1)
    realised = growth[positions + 1] - 1.0
    finite = np.isfinite(x)
    cum_sum = np.cumsum(np.where(finite, x, 0.0), axis=0)[positions]
    cum_n = np.cumsum(finite, axis=0)[positions]
    hist = np.divide(cum_sum, cum_n, out=np.full(cum_sum.shape, np.nan), where=cum_n > 0)
    return positions, forecasts, realised, (1.0 + hist) ** h - 1.0


def walk_forward(returns: pd.DataFrame, settings: ForecastSettings | None = None, *, step: int | None = None,
                 classes: Mapping[str, str] | None = None) -> SkillReport:
    """Walk-forward skill of the ensemble on a dated returns panel.

    Parameters
    ----------
    returns : DataFrame, shape (T, N)
        Simple periodic returns on a sorted DatetimeIndex, one column per asset.
    settings : ForecastSettings, optional
    step : int, optional
        Periods between forecast dates; default the horizon (non-overlapping outcomes).
    classes : mapping column -> asset class, optional
        For the per-class breakdown.

    Returns
    -------
    SkillReport
    """
    settings = settings or ForecastSettings()
    step = step or settings.horizon
    returns = returns.sort_index()
    positions, f, r, m = walk_forward_panels(returns.to_numpy(dtype=float), settings, step)
    labels = [classes.get(str(c), "unclassified") for c in returns.columns] if classes else None
    scores = score_forecasts(f, r, m, labels)
    level, text = verdict(scores, overlapping=step < settings.horizon)
    index = returns.index
    return SkillReport(
        model_name=MODEL_NAME, model_version=MODEL_VERSION, params_hash=params_hash(settings), settings=settings,
        data_hash=data_hash(returns), universe=",".join(map(str, returns.columns)),
        window_start=index[positions[0]].date(), window_end=index[positions[-1] + settings.horizon].date(),
        step=step, horizon=settings.horizon,
        by_class=[ClassSkill(**row) for row in scores.pop("by_class")], skill=level, verdict=text, **scores,
    )


# --- bundled history ---------------------------------------------------------------------------
def bundled_returns(keys: Sequence[str] = DEFAULT_UNIVERSE) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Aligned returns of bundled series (common window, coarsest frequency present).

    Returns
    -------
    returns : DataFrame
        One column per key (METRICS.md alignment).
    classes : dict
        Key -> economic exposure (equity, fixed_income, commodity, fx, crypto).
    warnings : list of str
        Data-quality and alignment warnings.
    """
    from engine.alignment import align_returns, price_returns
    from engine.market_data import MarketData

    data = MarketData.bundled()
    info = {s.key: s for s in data.catalogue()}
    missing = [k for k in keys if k not in info]
    if missing:
        raise InsufficientData(f"no bundled series {', '.join(missing)}",
                               [{"loc": ["keys"], "msg": f"unknown series {k}", "type": "insufficient_data"}
                                for k in missing])
    series, warnings, starts = {}, [], {}
    for key in keys:
        prices = data.prices(key)
        series[key], w = price_returns(prices)
        starts[key] = prices.index[0]
        warnings.extend(w)
    frame, _, _, w = align_returns(series, frequencies={k: info[k].frequency for k in keys}, starts=starts)
    classes = {k: info[k].exposure or "unclassified" for k in keys}
    return frame, classes, warnings + w


def evaluate_bundled(keys: Sequence[str] = DEFAULT_UNIVERSE, settings: ForecastSettings | None = None, *,
                     step: int | None = None) -> SkillReport:
    """:func:`walk_forward` on bundled real history, broken down by economic exposure."""
    returns, classes, _ = bundled_returns(keys)
    return walk_forward(returns, settings, step=step, classes=classes)
