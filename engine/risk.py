"""Risk and return metrics of METRICS.md as pure, vectorised numpy functions.

Two layers:

* :func:`metrics_matrix` is the fast core: a ``(T, N)`` return matrix in, every metric for all
  ``N`` columns at once out (``NaN`` where a metric is undefined). No Python loop over assets.
* :func:`compute_metrics` and the small per-metric functions (:func:`volatility`,
  :func:`sharpe`, …) take one series and return ``float`` or ``None``: never NaN, never inf.

Conventions (signs, ddof, interpolation, the ``W_0 = 1`` anchor of the drawdown) are exactly
those of METRICS.md; the tests pin them against empyrical-reloaded, quantstats and skfolio.

"Zero variance" is decided relative to the size of the data: a standard deviation at or below
``ZERO_TOL`` times the root-mean-square of the series is floating-point noise (e.g. a portfolio
compared with a benchmark that has the same weights up to rounding), so the ratio built on it
is undefined rather than a meaningless large number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidRequest
from engine.schemas import RiskMetrics

METRIC_NAMES: tuple[str, ...] = (
    "volatility", "expected_annual_return", "cagr", "sharpe", "sortino", "max_drawdown",
    "var_95", "cvar_95", "tracking_error", "information_ratio", "beta",
)
#: Tail probability of VaR/CVaR (the "95" in their names).
TAIL = 0.05
#: A standard deviation <= ZERO_TOL × rms(series) counts as zero (see the module docstring).
ZERO_TOL = 1e-9

ArrayLike = np.ndarray | Sequence[float]


def periodic_rate(annual_rate: float, periods_per_year: int) -> float:
    """An annual rate as the equivalent compounded rate per period: ``(1 + rf) ** (1 / P) - 1``."""
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


# --- input handling ----------------------------------------------------------------------------
def _invalid(message: str, loc: list, msg: str, kind: str = "value_error") -> InvalidRequest:
    return InvalidRequest(message, [{"loc": loc, "msg": msg, "type": kind}])


def _matrix(R: ArrayLike, name: str = "returns") -> np.ndarray:
    """``R`` as a float ``(T, N)`` array (a 1-D series becomes one column)."""
    X = np.asarray(R, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise _invalid(f"{name} must be 1-D or 2-D, got {X.ndim} dimensions", [name], "must be 1-D or 2-D")
    if not np.isfinite(X).all():
        bad = int(np.argwhere(~np.isfinite(X))[0][0])
        raise _invalid(f"{name} contains NaN or infinity (first at row {bad})", [name, bad],
                       "must be a finite number", "finite_number")
    return X


def _benchmark(b: ArrayLike | None, T: int, n: int | None = None) -> np.ndarray | None:
    """The benchmark as a float ``(T, 1)`` or ``(T, N)`` array, or None."""
    if b is None:
        return None
    B = _matrix(b, "benchmark_returns")
    if B.shape[0] != T:
        msg = f"has {B.shape[0]} values; returns has {T}"
        raise _invalid(f"benchmark_returns {msg}", ["benchmark_returns"], msg)
    if n is not None and B.shape[1] not in (1, n):
        msg = f"has {B.shape[1]} columns; returns has {n}"
        raise _invalid(f"benchmark_returns {msg}", ["benchmark_returns"], msg)
    return B


# --- shared pieces -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Moments:
    """Column statistics that several metrics share (computed once in :func:`metrics_matrix`)."""

    n: int
    mean: np.ndarray  # (N,)
    dev: np.ndarray  # (T, N) deviations from the column means
    sd: np.ndarray  # (N,) sample standard deviation, ddof = 1
    flat: np.ndarray  # (N,) bool: zero variance (relative to ZERO_TOL)


def _rms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->j", X, X) / X.shape[0])


def _moments(X: np.ndarray, scale: np.ndarray | None = None, out: np.ndarray | None = None) -> _Moments:
    """Two-pass moments (exact zero for a constant column). ``scale`` is the size zero variance
    is judged against (default: the rms of ``X``); ``out`` receives the deviations."""
    T = X.shape[0]
    mean = X.mean(axis=0)
    dev = np.subtract(X, mean, out=out)
    sd = np.sqrt(np.einsum("ij,ij->j", dev, dev) / (T - 1))
    return _Moments(T, mean, dev, sd, sd <= ZERO_TOL * (_rms(X) if scale is None else scale))


def _wealth(X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``W_t = prod_{s<=t} (1 + r_s)``, shape ``(T, N)`` (``W_0 = 1`` is implicit)."""
    W = np.add(X, 1.0, out=out)
    return np.multiply.accumulate(W, axis=0, out=W)


def _drawdowns(W: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``1 - W_t / max(1, max_{s<=t} W_s)``: the running peak includes the starting wealth 1."""
    peak = np.maximum.accumulate(W, axis=0, out=out)
    np.maximum(peak, 1.0, out=peak)
    np.divide(W, peak, out=peak)
    return np.subtract(1.0, peak, out=peak)


# --- vectorised kernels: (T, N) in, (N,) out, NaN where undefined ------------------------------
# The optional ``work`` buffers let metrics_matrix reuse two (T, N) blocks of memory: fresh
# large temporaries cost page faults that dominate the run time of these cheap passes.
def _k_volatility(m: _Moments, P: int) -> np.ndarray:
    return np.where(m.flat, 0.0, m.sd * math.sqrt(P))


def _k_sharpe(m: _Moments, rf_p: float, P: int) -> np.ndarray:
    # std(r - rf_p) == std(r): a constant shift leaves the deviations unchanged.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (m.mean - rf_p) / m.sd * math.sqrt(P)
    return np.where(m.flat, np.nan, out)


def _k_sortino(X: np.ndarray, m: _Moments, rf_p: float, P: int, work: np.ndarray | None = None) -> np.ndarray:
    downside = np.subtract(X, rf_p, out=work)
    np.minimum(downside, 0.0, out=downside)
    dd = np.sqrt(np.einsum("ij,ij->j", downside, downside) / m.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (m.mean - rf_p) / dd * math.sqrt(P)
    return np.where(m.flat | (dd == 0.0), np.nan, out)


def _k_cagr(W_end: np.ndarray, T: int, P: int) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = np.where(W_end >= 0.0, np.abs(W_end) ** (P / T) - 1.0, np.nan)
    return np.where(np.isfinite(out), out, np.nan)


def _k_tail(X: np.ndarray, work: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Historical VaR (linear interpolation, as numpy's quantile) and Rockafellar–Uryasev CVaR,
    both positive losses. One partial sort per column (rows of the transposed copy, where
    numpy's SIMD partition applies), then a full sort of only the small lower tail."""
    T = X.shape[0]
    q, k = TAIL * (T - 1), TAIL * T
    lo = math.floor(q)
    hi = min(lo + 1, T - 1)
    m = min(math.floor(k), T - 1)
    j = min(m + 1, T - 1)  # every order statistic needed has rank <= j
    if work is None:
        XT = X.T.copy()
    else:
        np.copyto(work, X.T)
        XT = work
    XT.partition(j, axis=1)
    tail = np.sort(XT[:, : j + 1], axis=1)
    # 0.0 - x, not -x: a zero loss is +0.0, never the -0.0 that JSON would show.
    var = 0.0 - (tail[:, lo] + (q - lo) * (tail[:, hi] - tail[:, lo]))
    cvar = 0.0 - (tail[:, :m].sum(axis=1) + (k - m) * tail[:, m]) / k
    return var, cvar


def _k_relative(X: np.ndarray, m: _Moments, B: np.ndarray, P: int,
                work: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Tracking error, information ratio and beta against benchmark ``B`` ((T, 1) or (T, N))."""
    bm = _moments(B)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.einsum("ij,ij->j", m.dev, np.broadcast_to(bm.dev, m.dev.shape)) / (m.n - 1)
        beta_ = np.where(np.broadcast_to(bm.flat, cov.shape), np.nan, cov / bm.sd**2)
        # Judge the active series' variance against the size of r and b: r - b is tiny noise
        # when the portfolio and its benchmark hold the same weights up to rounding.
        active = np.subtract(X, B, out=work)
        am = _moments(active, np.maximum(_rms(X), _rms(B)), out=active)
        ir = np.where(am.flat, np.nan, am.mean / am.sd * math.sqrt(P))
    return _k_volatility(am, P), ir, beta_


# --- the fast core -----------------------------------------------------------------------------
def metrics_matrix(R: np.ndarray, benchmark: np.ndarray | None = None, *, risk_free_rate: float = 0.0,
                   periods_per_year: int = 252) -> dict[str, np.ndarray]:
    """Every METRICS.md metric for every column of ``R`` at once.

    Parameters
    ----------
    R : ndarray, shape (T, N) or (T,)
        Simple periodic returns, finite.
    benchmark : ndarray, shape (T,), (T, 1) or (T, N), optional
        Benchmark returns on the same dates; without it the three relative metrics are NaN.
    risk_free_rate : float
        Annual rate; converted per period as ``(1 + rf) ** (1 / P) - 1``.
    periods_per_year : int
        P.

    Returns
    -------
    dict of str to ndarray of shape (N,)
        Keyed by :data:`METRIC_NAMES`. NaN where a metric is undefined: every metric when
        ``T < 2``; ratios on zero variance; sortino with no return below ``rf_p``.
    """
    X = _matrix(R)
    T, N = X.shape
    B = _benchmark(benchmark, T, N)
    P = int(periods_per_year)
    nan = np.full(N, np.nan)
    if T < 2:
        return {name: nan.copy() for name in METRIC_NAMES}
    rf_p = periodic_rate(risk_free_rate, P)
    # Two (T, N) work blocks, reused pass after pass (the order matters: each pass is done
    # with a block before the next one overwrites it).
    # They share X's memory layout (a DataFrame's values are often column-major), so every
    # elementwise pass runs over matching strides.
    buf_a, buf_b = np.empty_like(X), np.empty_like(X)
    tail_work = buf_b.T if not buf_b.flags.c_contiguous else buf_b.reshape(N, T)  # (N, T), row-major
    out: dict[str, np.ndarray] = {}
    out["var_95"], out["cvar_95"] = _k_tail(X, work=tail_work)
    m = _moments(X, out=buf_a)
    if B is None:
        out.update(tracking_error=nan, information_ratio=nan.copy(), beta=nan.copy())
    else:
        out["tracking_error"], out["information_ratio"], out["beta"] = _k_relative(X, m, B, P, work=buf_b)
    out["volatility"] = _k_volatility(m, P)
    out["expected_annual_return"] = m.mean * P
    out["sharpe"] = _k_sharpe(m, rf_p, P)
    out["sortino"] = _k_sortino(X, m, rf_p, P, work=buf_b)
    W = _wealth(X, out=buf_a)  # m.dev is not used after this point
    out["cagr"] = _k_cagr(W[-1], T, P)
    out["max_drawdown"] = _drawdowns(W, out=buf_b).max(axis=0)
    return {name: out[name] for name in METRIC_NAMES}


# --- one series ------------------------------------------------------------------------------
def _scalar(values: np.ndarray) -> float | None:
    v = float(values[0])
    return v if math.isfinite(v) else None


def _series(returns: ArrayLike) -> np.ndarray:
    X = _matrix(returns)
    if X.shape[1] != 1:
        raise _invalid("returns must be one series", ["returns"], "must be one series")
    return X


def compute_metrics(returns: ArrayLike, benchmark: ArrayLike | None = None, *, risk_free_rate: float = 0.0,
                    periods_per_year: int = 252) -> RiskMetrics:
    """METRICS.md metrics of one return series, ``None`` where undefined.

    Undefined: everything with fewer than 2 returns; sharpe, sortino with zero variance;
    sortino with no return below the risk-free rate; information ratio with zero tracking
    error; beta with a constant benchmark; the three relative metrics without a benchmark.
    """
    X = _series(returns)
    values = metrics_matrix(X, None if benchmark is None else _series(benchmark),
                            risk_free_rate=risk_free_rate, periods_per_year=periods_per_year)
    return RiskMetrics(**{name: _scalar(v) for name, v in values.items()})


def _apply(returns: ArrayLike, kernel: Callable[[np.ndarray, _Moments], np.ndarray]) -> float | None:
    """One series through one vectorised kernel; None with fewer than 2 returns or if undefined."""
    X = _series(returns)
    return _scalar(kernel(X, _moments(X))) if X.shape[0] >= 2 else None


def _apply_relative(returns: ArrayLike, benchmark: ArrayLike, P: int, which: int) -> float | None:
    B = _series(benchmark)
    return _apply(returns, lambda X, m: _k_relative(X, m, _benchmark(B, m.n), P)[which])


def volatility(returns: ArrayLike, periods_per_year: int = 252) -> float | None:
    """``std(r, ddof=1) * sqrt(P)``."""
    return _apply(returns, lambda X, m: _k_volatility(m, periods_per_year))


def expected_annual_return(returns: ArrayLike, periods_per_year: int = 252) -> float | None:
    """Arithmetic annual return ``mean(r) * P``."""
    return _apply(returns, lambda X, m: m.mean * periods_per_year)


def cagr(returns: ArrayLike, periods_per_year: int = 252) -> float | None:
    """``prod(1 + r) ** (P / T) - 1``; None if it overflows or wealth went negative."""
    return _apply(returns, lambda X, m: _k_cagr(_wealth(X)[-1], m.n, periods_per_year))


def sharpe(returns: ArrayLike, risk_free_rate: float = 0.0, periods_per_year: int = 252) -> float | None:
    """``mean(r - rf_p) / std(r - rf_p, ddof=1) * sqrt(P)``, ``rf_p`` the per-period rate."""
    rf_p = periodic_rate(risk_free_rate, periods_per_year)
    return _apply(returns, lambda X, m: _k_sharpe(m, rf_p, periods_per_year))


def sortino(returns: ArrayLike, risk_free_rate: float = 0.0, periods_per_year: int = 252) -> float | None:
    """``mean(r - rf_p) / sqrt(mean(min(r - rf_p, 0) ** 2)) * sqrt(P)``."""
    rf_p = periodic_rate(risk_free_rate, periods_per_year)
    return _apply(returns, lambda X, m: _k_sortino(X, m, rf_p, periods_per_year))


def max_drawdown(returns: ArrayLike) -> float | None:
    """Largest peak-to-trough loss of wealth, a positive fraction (the start ``W_0 = 1`` counts)."""
    return _apply(returns, lambda X, m: _drawdowns(_wealth(X)).max(axis=0))


def var_95(returns: ArrayLike) -> float | None:
    """Historical one-period VaR: ``-quantile(r, 0.05)`` (linear interpolation), a positive loss."""
    return _apply(returns, lambda X, m: _k_tail(X)[0])


def cvar_95(returns: ArrayLike) -> float | None:
    """Historical expected shortfall (Rockafellar–Uryasev) at 95 %, a positive loss."""
    return _apply(returns, lambda X, m: _k_tail(X)[1])


def tracking_error(returns: ArrayLike, benchmark: ArrayLike, periods_per_year: int = 252) -> float | None:
    """``std(r - b, ddof=1) * sqrt(P)``."""
    return _apply_relative(returns, benchmark, periods_per_year, 0)


def information_ratio(returns: ArrayLike, benchmark: ArrayLike, periods_per_year: int = 252) -> float | None:
    """``mean(r - b) / std(r - b, ddof=1) * sqrt(P)``."""
    return _apply_relative(returns, benchmark, periods_per_year, 1)


def beta(returns: ArrayLike, benchmark: ArrayLike) -> float | None:
    """``cov(r, b, ddof=1) / var(b, ddof=1)``."""
    return _apply_relative(returns, benchmark, 1, 2)


# --- series and portfolio pieces ------------------------------------------------------------
def cumulative_returns(returns: ArrayLike) -> np.ndarray:
    """``W_t - 1`` for each return date (shape of ``returns``: ``(T,)`` or ``(T, N)``)."""
    X = np.asarray(returns, dtype=float)
    return _wealth(X) - 1.0 if X.size else X.copy()


def drawdown_series(returns: ArrayLike) -> np.ndarray:
    """Drawdown at each return date as a positive fraction below the running peak (``W_0 = 1``
    included), shape of ``returns``; its maximum is :func:`max_drawdown`."""
    X = np.asarray(returns, dtype=float)
    return _drawdowns(_wealth(X)) if X.size else X.copy()


def risk_contributions(weights: ArrayLike, cov: np.ndarray) -> np.ndarray:
    """Euler contributions to portfolio volatility: ``w_i (Σ w)_i / σ_p``, ``σ_p = sqrt(w'Σw)``.

    They sum to ``σ_p`` (in the units of ``cov``: pass an annualised covariance for annual
    figures). With ``σ_p = 0`` every ``(Σ w)_i`` is 0 too (Σ is positive semi-definite), so
    each contribution is 0.
    """
    w = np.asarray(weights, dtype=float)
    sigma_w = np.asarray(cov, dtype=float) @ w
    var_p = float(w @ sigma_w)
    if var_p <= 0.0:
        return np.zeros_like(w)
    return w * sigma_w / math.sqrt(var_p)


#: Work (rows × N × N) of one Gram block that BLAS runs single-threaded (OpenBLAS's threshold).
_SMALL_GEMM = 262_144


def _gram(D: np.ndarray) -> np.ndarray:
    """``D.T @ D``. For a few dozen columns the product is summed over row blocks small enough
    to run single-threaded: waking BLAS threads costs more than this little work (tens of ms on
    a loaded machine, against under 1 ms)."""
    T, N = D.shape
    rows = _SMALL_GEMM // max(N * N, 1)
    if rows < 16 or rows >= T:
        return D.T @ D
    out = np.zeros((N, N))
    for start in range(0, T, rows):  # over blocks of time, not over assets
        block = D[start:start + rows]
        out += block.T @ block
    return out


def covariance(R: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Sample covariance (ddof = 1) of the columns of ``R`` ((T, N), ``T >= 2``) and a mask of
    the zero-variance columns (judged as in the module docstring)."""
    X = _matrix(R)
    if X.shape[0] < 2:
        raise _invalid("a covariance needs at least 2 returns", ["returns"], "fewer than 2 returns")
    m = _moments(X)
    cov = _gram(m.dev) / (m.n - 1)
    cov[m.flat, :] = 0.0
    cov[:, m.flat] = 0.0
    return cov, m.flat


def correlation_from_covariance(cov: np.ndarray, flat: np.ndarray) -> list[list[float | None]]:
    """Correlation from a covariance matrix; None in the row and column of a flat column."""
    sd = np.sqrt(np.where(flat, 1.0, np.diag(cov)))
    C = np.clip(cov / np.outer(sd, sd), -1.0, 1.0)
    np.fill_diagonal(C, 1.0)
    rows: list[list[float | None]] = C.tolist()
    for j in np.flatnonzero(flat):
        for i in range(len(rows)):
            rows[i][j] = None
            rows[j][i] = None
    return rows


def correlation(R: ArrayLike) -> list[list[float | None]]:
    """Pearson correlation of the columns of ``R`` ((T, N)); None for a zero-variance column
    (its whole row and column) or when ``T < 2``."""
    X = _matrix(R)
    if X.shape[0] < 2:
        return [[None] * X.shape[1] for _ in range(X.shape[1])]
    return correlation_from_covariance(*covariance(X))
