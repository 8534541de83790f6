"""The forecast ensemble: momentum, mean reversion and an EWMA signal, confidence-weighted.

Point-in-time protocol: a forecast at date ``t`` reads only rows dated ``<= t`` (the period
count used to annualise is inferred from those rows too), so changing or deleting any row after
``t`` cannot change it. Every computation is vectorised over assets.

The signals, on the last ``long_window`` returns up to ``t`` (S = short, L = long window):

* momentum: ``m_S``, the mean of the last S returns;
* mean reversion: ``m_L − k (m_S − m_L)``: a share ``k`` of the short window's excess over the
  long mean is expected to reverse;
* EWMA: the exponentially weighted mean with the given half-life.

Each signal's confidence is the positive-part James–Stein share ``max(0, 1 − 1/z²)``, where ``z`` is
the signal over its standard error under i.i.d. returns with the asset's long-window dispersion ``σ``:
``σ/√S`` (momentum), ``σ √((1 − k²)/L + k²/S)`` (mean reversion; the short window lies inside
the long one), ``σ √(Σa²)/Σa`` (EWMA weights ``a``). It estimates the share of the signal's
variance that is not noise, so ``confidence × signal`` is the empirical-Bayes shrunk estimate; a
signal within one standard error of 0 has confidence 0. (``2Φ(|z|) − 1`` would not do: under pure
noise it is uniform on [0, 1], averaging 0.5.) The ensemble mean weights the signals by confidence; its confidence is the
same weighted average of the signals' confidences, times their agreement
``|Σ c_k m_k| / Σ c_k |m_k|`` (1 when all point the same way, lower when they disagree).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DataError, InsufficientData
from engine.returns_frame import ReturnsFrame
from engine.schemas.ai import AssetForecast, ForecastResult, ForecastSettings, SignalForecast

MODEL_NAME = "ensemble"
MODEL_VERSION = "1.0"
SIGNALS: tuple[str, ...] = ("momentum", "mean_reversion", "ewma")

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "SIGNALS",
    "ensemble",
    "forecast",
    "model_params",
    "params_hash",
    "periods_per_year_up_to",
    "point_in_time_covariance",
]


def model_params(settings: ForecastSettings) -> dict[str, Any]:
    """The parameters that define the model: what the registry stores and the hash covers.

    ``periods_per_year`` is left out: it only annualises for display (the horizon returns, the
    ranking and the optimiser's ``μ·h`` do not depend on it), so it must not split a model's
    identity between data frequencies' inferred and given values.
    """
    return {"model": MODEL_NAME, "version": MODEL_VERSION,
            **settings.model_dump(mode="json", exclude={"periods_per_year"})}


def params_hash(settings: ForecastSettings) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace) of :func:`model_params`.

    The same canonical form as :func:`engine.governance.registry.params_hash`, so registering
    ``model_params(settings)`` gives this hash.
    """
    text = json.dumps(model_params(settings), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _confidence(signal: np.ndarray, stderr: np.ndarray) -> np.ndarray:
    """max(0, 1 − (stderr / signal)²); a zero-dispersion asset is certain unless its signal is 0."""
    noise = np.divide(stderr**2, signal**2, out=np.full(signal.shape, np.inf), where=signal != 0.0)
    noise = np.where((stderr == 0.0) & (signal != 0.0), 0.0, noise)
    return np.clip(1.0 - noise, 0.0, 1.0)


def ensemble(window: np.ndarray, settings: ForecastSettings) -> dict[str, np.ndarray]:
    """Signals, confidences and the ensemble on one window of returns (pure numpy).

    Parameters
    ----------
    window : ndarray, shape (L, N)
        Per-period simple returns, oldest first, the last row being the as-of date; at most
        ``long_window`` rows are used (the last ones). NaN marks a missing observation.
    settings : ForecastSettings

    Returns
    -------
    dict of ndarray
        ``signals`` (3, N) per-period means in :data:`SIGNALS` order, ``confidences`` (3, N),
        ``weights`` (3, N), ``mean`` (N,) per-period ensemble mean, ``confidence`` (N,),
        ``n_obs`` (N,), ``usable`` (N,) bool. An asset with fewer than 3 returns in the long window or fewer than 2
        in the short one has every confidence 0 and a mean of 0.
    """
    x = np.asarray(window, dtype=float)[-settings.long_window:]
    finite = np.isfinite(x)
    xz = np.where(finite, x, 0.0)
    n_long = finite.sum(axis=0)
    n_short = finite[-settings.short_window:].sum(axis=0)
    usable = (n_long >= 3) & (n_short >= 2)
    n_l, n_s = np.maximum(n_long, 1), np.maximum(n_short, 1)

    m_long = xz.sum(axis=0) / n_l
    m_short = xz[-settings.short_window:].sum(axis=0) / n_s
    dev = np.where(finite, x - m_long, 0.0)
    sigma = np.sqrt((dev**2).sum(axis=0) / np.maximum(n_long - 1, 1))

    k = settings.reversion_strength
    ages = np.arange(x.shape[0] - 1, -1, -1, dtype=float)
    a = np.where(finite, (0.5 ** (ages / settings.half_life))[:, None], 0.0)
    a_sum = np.maximum(a.sum(axis=0), np.finfo(float).tiny)
    signals = np.stack([m_short, m_long - k * (m_short - m_long), (a * xz).sum(axis=0) / a_sum])
    stderr = sigma * np.stack([
        1.0 / np.sqrt(n_s),
        np.sqrt((1.0 - k * k) / n_l + k * k / n_s),
        np.sqrt((a**2).sum(axis=0)) / a_sum,
    ])
    conf = np.where(usable, _confidence(signals, stderr), 0.0)
    signals = np.where(usable, signals, 0.0)

    total = conf.sum(axis=0)
    weights = np.divide(conf, total, out=np.zeros_like(conf), where=total > 0)
    mean = (weights * signals).sum(axis=0)
    spread = (weights * np.abs(signals)).sum(axis=0)
    agreement = np.divide(np.abs(mean), spread, out=np.zeros_like(mean), where=spread > 0)
    confidence = np.clip((weights * conf).sum(axis=0) * agreement, 0.0, 1.0)
    return {"signals": signals, "confidences": conf, "weights": weights, "mean": mean,
            "confidence": confidence, "n_obs": n_long, "usable": usable}


def periods_per_year_up_to(index: pd.DatetimeIndex, settings: ForecastSettings) -> int:
    """P from the settings, else inferred from the given (already cut at t) dates."""
    if settings.periods_per_year is not None:
        return settings.periods_per_year
    from engine.alignment import infer_frequency

    return infer_frequency(index)[1]


def _history_up_to(returns: pd.DataFrame, as_of: dt.date | pd.Timestamp | str | None) -> pd.DataFrame:
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise DataError("forecast needs returns on a DatetimeIndex (a dated history)")
    if returns.index.has_duplicates:
        raise DataError("the returns have duplicate dates")
    if not returns.index.is_monotonic_increasing:
        returns = returns.sort_index()
    if as_of is None:
        return returns
    return returns.loc[returns.index <= pd.Timestamp(as_of)]


def forecast(returns: pd.DataFrame | ReturnsFrame, as_of: dt.date | pd.Timestamp | str | None = None,
             settings: ForecastSettings | None = None) -> ForecastResult:
    """Forecast every column's return over the next ``settings.horizon`` periods after ``as_of``.

    Parameters
    ----------
    returns : DataFrame, shape (T, N), or ReturnsFrame
        Simple periodic returns on a DatetimeIndex, one column per asset (NaN = missing).
        A ReturnsFrame lends its ``periods_per_year`` when the settings give none.
    as_of : date-like, optional
        Forecast date ``t``; only rows dated ``<= t`` are read. Default: the last date.
    settings : ForecastSettings, optional

    Returns
    -------
    ForecastResult
        Annualised expected returns (mean × P), horizon returns, confidences and each signal's
        part, with the model name, version and parameters hash.

    Raises
    ------
    DataError
        Undated or duplicated dates.
    InsufficientData
        Fewer than 3 returns up to ``as_of``.
    """
    settings = settings or ForecastSettings()
    if isinstance(returns, ReturnsFrame):
        if settings.periods_per_year is None:
            settings = settings.model_copy(update={"periods_per_year": returns.periods_per_year})
        returns = returns.returns
    history = _history_up_to(returns, as_of)
    if len(history) < 3:
        raise InsufficientData(f"a forecast needs at least 3 returns up to {as_of}; found {len(history)}",
                               [{"loc": ["returns"], "msg": "fewer than 3 returns up to the as-of date",
                                 "type": "insufficient_data"}])
    window = history.iloc[-settings.long_window:]
    ppy = periods_per_year_up_to(history.index, settings)
    out = ensemble(window.to_numpy(dtype=float), settings)
    return _result(history, window, settings, ppy, out)


def _result(history: pd.DataFrame, window: pd.DataFrame, settings: ForecastSettings, ppy: int,
            out: dict[str, np.ndarray]) -> ForecastResult:
    mean, conf = out["mean"], out["confidence"]
    horizon_ret = (1.0 + mean) ** settings.horizon - 1.0
    assets = []
    for j, symbol in enumerate(map(str, window.columns)):
        signals = [
            SignalForecast(signal=name, expected_return=float(out["signals"][k, j] * ppy),
                           confidence=float(out["confidences"][k, j]), weight=float(out["weights"][k, j]),
                           contribution=float(out["weights"][k, j] * out["signals"][k, j] * ppy))
            for k, name in enumerate(SIGNALS)
        ]
        assets.append(AssetForecast(symbol=symbol, expected_return=float(mean[j] * ppy),
                                    horizon_return=float(horizon_ret[j]), confidence=float(conf[j]),
                                    n_observations=int(out["n_obs"][j]), signals=signals))
    warnings = []
    short = [a.symbol for a, ok in zip(assets, out["usable"], strict=True) if not ok]
    if short:
        warnings.append(f"too little history up to the as-of date for {', '.join(short)}: confidence 0")
    if len(window) < settings.long_window:
        warnings.append(f"only {len(window)} returns up to the as-of date, fewer than the long window "
                        f"of {settings.long_window}")
    return ForecastResult(
        model_name=MODEL_NAME, model_version=MODEL_VERSION, params_hash=params_hash(settings),
        settings=settings, as_of=history.index[-1].date(), horizon=settings.horizon, periods_per_year=ppy,
        assets=assets, average_confidence=float(conf.mean()) if conf.size else 0.0, warnings=warnings,
    )


def point_in_time_covariance(returns: pd.DataFrame | ReturnsFrame, as_of: dt.date | pd.Timestamp | str | None = None,
                             settings: ForecastSettings | None = None) -> np.ndarray:
    """Annualised covariance on the same window as :func:`forecast` (the last ``long_window``
    rows dated ``<= as_of``), for the optimiser.

    A missing return counts as the asset's window mean (it adds no co-movement), so the result
    is a Gram matrix: always symmetric positive semidefinite, shape (N, N).
    """
    settings = settings or ForecastSettings()
    if isinstance(returns, ReturnsFrame):
        if settings.periods_per_year is None:
            settings = settings.model_copy(update={"periods_per_year": returns.periods_per_year})
        returns = returns.returns
    history = _history_up_to(returns, as_of)
    x = history.iloc[-settings.long_window:].to_numpy(dtype=float)
    if x.shape[0] < 2:
        raise InsufficientData("a covariance needs at least 2 returns up to the as-of date")
    finite = np.isfinite(x)
    mean = np.where(finite, x, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)
    dev = np.where(finite, x - mean, 0.0)
    return dev.T @ dev / (x.shape[0] - 1) * periods_per_year_up_to(history.index, settings)
