"""Monte Carlo stress test of a portfolio (METRICS.md, "Monte Carlo stress test").

Three ways to draw the future from the aligned return history: ``gaussian`` (multivariate
normal with the sample mean and covariance), ``bootstrap`` (whole historical return rows drawn
i.i.d. with replacement) and ``block_bootstrap`` (the stationary bootstrap of Politis and
Romano, 1994). Never a permutation: a permutation of history cannot change the compounded
terminal value.

Determinism: paths are cut into fixed chunks of :data:`CHUNK_PATHS`; chunk ``i`` draws from
``np.random.default_rng(SeedSequence(seed, spawn_key=(i,)))``, the ``i``-th child of
``SeedSequence(seed).spawn`` (:mod:`engine.mc_draws`, which also keeps recent bootstrap draws
for reuse). So a path's value depends only on the seed and its index, not on how many chunks
one call computes, in which order, or on which thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import Cancelled, InsufficientData, InvalidRequest
from engine.mc_draws import CHUNK_PATHS, bootstrap_indices, chunk_generator, kept_run, stationary_bootstrap_indices
from engine.returns_frame import ReturnsFrame
from engine.schemas import FanChart, MonteCarloResult, MonteCarloSettings, Portfolio, StressSummary

__all__ = [
    "CHUNK_PATHS",
    "FAN_PERCENTILES",
    "chunk_generator",
    "current_weights",
    "iter_path_chunks",
    "row_percentiles",
    "run_monte_carlo",
    "simulate_paths",
    "stationary_bootstrap_indices",
    "stress_summary",
]

#: Percentiles of the fan chart (and of the terminal value).
FAN_PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)
#: Budget, in float64 elements, of one buy-and-hold step block (chunk × steps × assets).
_BLOCK_ELEMENTS = 2_000_000
#: Above this many stored values the fan chart is kept in float32 (terminal values stay float64).
_FLOAT64_FAN_LIMIT = 25_000_000
HISTOGRAM_BINS = 50
_METHODS = ("gaussian", "bootstrap", "block_bootstrap")


# --- the step model ----------------------------------------------------------------------------
class _Sampler:
    """Draws growth paths for one chunk. Holds only read-only inputs prepared once per run."""

    def __init__(self, returns: np.ndarray, weights: np.ndarray, method: str, mode: str,
                 mean_block_length: float) -> None:
        if method not in _METHODS:
            raise InvalidRequest(f"unknown Monte Carlo method '{method}'",
                                 [{"loc": ["monte_carlo", "method"], "msg": f"unknown method '{method}'",
                                   "type": "value_error"}])
        self.method, self.mode, self.block = method, mode, float(mean_block_length)
        self.run: tuple[np.ndarray, ...] | None = None  # each chunk's bootstrap draws, when kept
        self.R = np.ascontiguousarray(returns, dtype=np.float64)
        self.w = np.asarray(weights, dtype=np.float64)
        self.cash = 1.0 - float(self.w.sum())
        if mode == "constant_mix":
            # Weights are restored every step, so the portfolio's own return is the random variable.
            self.rp = self.R @ self.w
            self.m, self.s = float(self.rp.mean()), float(self.rp.std(ddof=1))
            self.step_growth = np.maximum(1.0 + self.rp, 0.0)  # gathered per step by the bootstraps
        elif mode == "buy_and_hold":
            self.mu = self.R.mean(axis=0)
            self.factor = _cov_factor(self.R) if method == "gaussian" else None
        else:
            raise InvalidRequest(f"unknown Monte Carlo mode '{mode}'",
                                 [{"loc": ["monte_carlo", "mode"], "msg": f"unknown mode '{mode}'",
                                   "type": "value_error"}])

    def _indices(self, seed: int, chunk: int, n: int, horizon: int) -> np.ndarray:
        if self.run is not None:  # the whole run's draws were kept
            return self.run[chunk]
        return bootstrap_indices(self.method, seed, chunk, n, horizon, self.R.shape[0], self.block)

    def growth(self, seed: int, chunk: int, n: int, horizon: int) -> np.ndarray:
        """Cumulative growth of 1 after each step, shape (n, horizon); a path that loses
        everything stays at 0 (a return below -100 % is floored there)."""
        if self.mode == "buy_and_hold":
            return self._buy_and_hold(seed, chunk, n, horizon)
        return np.cumprod(self._steps(seed, chunk, n, horizon), axis=0).T

    def terminal(self, seed: int, chunk: int, n: int, horizon: int) -> np.ndarray:
        """Growth of 1 at the horizon only, shape (n,): equal, bit for bit, to ``growth(...)[:, -1]``
        (the same draws multiplied in the same order, step after step)."""
        if self.mode == "buy_and_hold":
            return self._buy_and_hold(seed, chunk, n, horizon)[:, -1]
        if self.method == "gaussian":
            return np.multiply.reduce(self._steps(seed, chunk, n, horizon), axis=0)
        # The bootstraps' gather, into this thread's scratch buffer: np.take with a buffer is
        # faster than fancy indexing into a fresh array, and no memory is mapped per chunk.
        # ("wrap" only skips numpy's copy of ``out`` for error safety: indices are in range.)
        steps = np.take(self.step_growth, self._indices(seed, chunk, n, horizon), mode="wrap",
                        out=_scratch((horizon, n)))
        return np.multiply.reduce(steps, axis=0)

    def _steps(self, seed: int, chunk: int, n: int, horizon: int) -> np.ndarray:
        """Constant mix: each step's growth factor ``max(1 + r, 0)``, step-major: shape (horizon, n)."""
        if self.method == "gaussian":
            g = chunk_generator(seed, chunk).standard_normal((n, horizon))
            g *= self.s
            g += 1.0 + self.m
            return np.maximum(g, 0.0, out=g).T
        return self.step_growth[self._indices(seed, chunk, n, horizon)]

    def _buy_and_hold(self, seed: int, chunk: int, n: int, horizon: int) -> np.ndarray:
        N = self.R.shape[1]
        out = np.empty((n, horizon))
        rng = chunk_generator(seed, chunk) if self.method == "gaussian" else None
        idx = None if rng is not None else self._indices(seed, chunk, n, horizon).T
        level = np.ones((n, N))                         # each asset's growth so far
        # Blocks of steps bound memory (n × steps × N never exists at once); the block size
        # depends only on N, so results do not depend on how chunks are scheduled.
        step = max(1, _BLOCK_ELEMENTS // (CHUNK_PATHS * max(N, 1)))
        for b0 in range(0, horizon, step):
            b1 = min(horizon, b0 + step)
            if idx is None:
                g = rng.standard_normal((n, b1 - b0, N)) @ self.factor.T
                g += 1.0 + self.mu
            else:
                g = 1.0 + self.R[idx[:, b0:b1]]
            np.maximum(g, 0.0, out=g)
            np.cumprod(g, axis=1, out=g)
            g *= level[:, None, :]
            out[:, b0:b1] = g @ self.w + self.cash
            level = g[:, -1, :]
        return out


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, int]) -> np.ndarray:
    """A float64 work array of ``shape``, kept per thread (at most one chunk of steps, 4 MB for
    the default year of daily steps) and reused by the next chunk and run on that thread."""
    size = shape[0] * shape[1]
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.size < size:
        buf = _SCRATCH.buf = np.empty(size)
    return buf[:size].reshape(shape)


def _cov_factor(R: np.ndarray) -> np.ndarray:
    """``F`` with ``F @ F.T`` = the sample covariance (ddof=1): Cholesky when it is positive
    definite (unique, so reproducible), else a symmetric square root with clipped eigenvalues
    (zero columns of uncovered holdings and collinear assets make it singular)."""
    cov = np.atleast_2d(np.cov(R, rowvar=False, ddof=1))
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))


def iter_path_chunks(returns: np.ndarray, weights: np.ndarray, *, method: str = "bootstrap",
                     mode: str = "constant_mix", paths: int = 10_000, horizon: int = 252, seed: int = 42,
                     mean_block_length: float = 10.0, chunks: Sequence[int] | None = None,
                     terminal_only: bool = False) -> Iterator[tuple[slice, np.ndarray]]:
    """Stream simulated growth paths chunk by chunk.

    Parameters
    ----------
    returns : array, shape (T, N)
        Historical simple returns, one column per asset.
    weights : array, shape (N,)
        Weights of the assets as fractions of the whole portfolio; ``1 - sum`` is cash at 0 %.
    chunks : sequence of int, optional
        Which chunks of :data:`CHUNK_PATHS` paths to compute (default: all, in order).
    terminal_only : bool
        Yield each path's growth at the horizon only (shape (n,)), the same values as the last
        column of the full paths, without the cumulative product of every step.

    Yields
    ------
    (slice, ndarray of shape (n, horizon), or (n,) with ``terminal_only``)
        The paths' positions in the full run and their growth of 1 after steps 1..horizon.
    """
    sampler = _Sampler(returns, weights, method, mode, mean_block_length)
    if method != "gaussian" and chunks is None:
        sampler.run = kept_run(method, seed, paths, horizon, sampler.R.shape[0], sampler.block)
    step = sampler.terminal if terminal_only else sampler.growth
    n_chunks = -(-paths // CHUNK_PATHS)
    for i in (range(n_chunks) if chunks is None else chunks):
        a, b = i * CHUNK_PATHS, min(paths, (i + 1) * CHUNK_PATHS)
        yield slice(a, b), step(seed, i, b - a, horizon)


def simulate_paths(returns: np.ndarray, weights: np.ndarray, *, method: str = "bootstrap",
                   mode: str = "constant_mix", paths: int = 10_000, horizon: int = 252, seed: int = 42,
                   mean_block_length: float = 10.0, initial_value: float = 1.0,
                   chunks: Sequence[int] | None = None) -> np.ndarray:
    """Portfolio values along simulated paths, step 0 (the start) included.

    Same parameters as :func:`iter_path_chunks`; materialises the result, so use that
    function for very large runs.

    Returns
    -------
    ndarray, shape (paths in the chosen chunks, horizon + 1)
    """
    parts = [g for _, g in iter_path_chunks(returns, weights, method=method, mode=mode, paths=paths,
                                            horizon=horizon, seed=seed, mean_block_length=mean_block_length,
                                            chunks=chunks)]
    growth = np.concatenate(parts) if parts else np.empty((0, horizon))
    return initial_value * np.hstack([np.ones((growth.shape[0], 1)), growth])


# --- percentiles -------------------------------------------------------------------------------
def row_percentiles(a: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Percentiles of each row, equal to ``np.percentile(a, q, axis=1)`` (``linear`` method).

    numpy's multi-``kth`` partition is about ten times slower than one single-``kth`` partition
    per order statistic on nested sub-ranges, which is what this does. ``a`` (2-D, rows
    contiguous) is partially reordered in place.

    Returns
    -------
    ndarray, shape (len(q), rows)
    """
    n = a.shape[1]
    h = (n - 1) * (np.asarray(q, dtype=np.float64) / 100.0)   # numpy's rounding order
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    _select(a, sorted(set(lo.tolist()) | set(hi.tolist())), 0, n)
    t = (h - lo)[:, None]
    below, above = a[:, lo].T.astype(np.float64), a[:, hi].T.astype(np.float64)
    diff = above - below
    # numpy's _lerp: interpolate from the nearer end, so results match np.percentile bit for bit.
    return np.where(t >= 0.5, above - diff * (1.0 - t), below + diff * t)


def _select(a: np.ndarray, ks: list[int], lo: int, hi: int) -> None:
    if not ks:
        return
    mid = len(ks) // 2
    k = ks[mid]
    a[:, lo:hi].partition(k - lo, axis=1)
    _select(a, ks[:mid], lo, k)
    _select(a, ks[mid + 1:], k + 1, hi)


# --- the use case ------------------------------------------------------------------------------
def current_weights(portfolio: Portfolio, columns: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Current weights (holding value / total value, cash included) in ``columns`` order.

    Returns the weights and the holdings that have no column (they are simulated at 0 %).
    """
    total = portfolio.total_value
    if total <= 0.0:
        raise InvalidRequest("the portfolio has no value to simulate",
                             [{"loc": ["portfolio"], "msg": "total value (holdings plus cash) is zero",
                               "type": "value_error"}])
    position = {c: i for i, c in enumerate(columns)}
    w = np.zeros(len(columns))
    missing = []
    for h in portfolio.holdings:
        if h.symbol in position:
            w[position[h.symbol]] += h.value / total
        elif h.value > 0.0:
            missing.append(h.symbol)
    return w, missing


def run_monte_carlo(portfolio: Portfolio, frame: ReturnsFrame, settings: MonteCarloSettings, *,
                    progress: Callable[[float], None] | None = None,
                    cancel: Callable[[], bool] | None = None, fan: bool = True) -> MonteCarloResult:
    """Monte Carlo stress test of the portfolio as it stands (METRICS.md).

    With ``fan=False`` only terminal values are kept (the fan chart's bands come back empty):
    the same paths and the same terminal figures, without storing and sorting every step.

    Weights are the current ones; uninvested cash earns 0. A horizon left unset in ``settings``
    is one year of the frame's periods (252 daily, 12 monthly). ``progress(done)`` is called after
    each chunk of :data:`CHUNK_PATHS` paths (it reaches 1.0); ``cancel()`` is checked before
    each chunk and raises :class:`~engine.errors.Cancelled` when true.

    Raises
    ------
    InsufficientData
        Fewer than two return periods, non-finite returns, or values that overflow.
    Cancelled
    """
    run = _simulate(portfolio, frame, settings, progress, cancel, fan)
    return _result(settings.model_copy(update={"horizon": run.horizon}), run.periods_per_year, run.initial,
                   run.terminal, run.bands, run.warnings)


def stress_summary(portfolio: Portfolio, frame: ReturnsFrame, settings: MonteCarloSettings, *,
                   cancel: Callable[[], bool] | None = None) -> StressSummary:
    """The seed's two stress figures, probability of loss and 5th-percentile terminal value, from
    the same paths as :func:`run_monte_carlo` (equal to its figures) without the rest of its
    result: what the REST rebalance response carries. Same errors."""
    run = _simulate(portfolio, frame, settings, None, cancel, False)
    loss = float(np.count_nonzero(run.terminal < run.initial) / run.terminal.size)  # = np.mean, without its overhead
    # np.percentile's value by partial selection (bit for bit); reorders ``terminal``, unused after.
    downside = float(row_percentiles(run.terminal[None, :], FAN_PERCENTILES[:1])[0, 0])
    return StressSummary(probability_of_loss=loss, downside_terminal_value=downside,
                         method=settings.method, paths=settings.paths, horizon=run.horizon, seed=settings.seed)


@dataclass(frozen=True)
class _Run:
    terminal: np.ndarray  # (paths,) values at the horizon
    bands: np.ndarray     # (len(FAN_PERCENTILES), horizon + 1) fan chart, or empty
    initial: float
    horizon: int
    periods_per_year: int
    warnings: list[str]


def _simulate(portfolio: Portfolio, frame: ReturnsFrame, settings: MonteCarloSettings,
              progress: Callable[[float], None] | None, cancel: Callable[[], bool] | None, fan: bool) -> _Run:
    R = frame.returns.to_numpy(dtype=np.float64)
    if R.shape[0] < 2:
        raise InsufficientData(f"{R.shape[0]} return period(s): at least 2 are needed for a Monte Carlo run",
                               [{"loc": ["history"], "msg": "at least 2 return periods are needed",
                                 "type": "insufficient_data"}])
    if not np.isfinite(R).all():
        raise InsufficientData("the return history contains NaN or infinite values",
                               [{"loc": ["history"], "msg": "returns must be finite", "type": "insufficient_data"}])
    w, missing = current_weights(portfolio, [str(c) for c in frame.returns.columns])
    initial = float(settings.initial_value or portfolio.total_value)
    P, n = frame.periods_per_year, settings.paths
    # An unset horizon is one year of the history's periods: any monthly holding makes the
    # whole history monthly, where a fixed 252 steps would mean 21 years.
    H = settings.horizon if settings.horizon is not None else P
    fan_dtype = np.float64 if n * (H + 1) <= _FLOAT64_FAN_LIMIT else np.float32
    store = np.empty((H + 1, n) if fan else (0, n), dtype=fan_dtype)  # steps × paths: rows are partitioned
    if fan:
        store[0] = initial
    terminal = np.empty(n)
    chunks = iter_path_chunks(R, w, method=settings.method, mode=settings.mode, paths=n, horizon=H,
                              seed=settings.seed, mean_block_length=settings.mean_block_length,
                              terminal_only=not fan)
    while True:
        if cancel is not None and cancel():
            raise Cancelled("Monte Carlo run cancelled")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked once, below
            where, growth = next(chunks, (None, None))
            if where is None:
                break
            growth *= initial
            if fan:
                store[1:, where] = growth.T
        terminal[where] = growth[:, -1] if fan else growth
        if progress is not None:
            progress(where.stop / n)
    with np.errstate(invalid="ignore"):
        bands = row_percentiles(store, FAN_PERCENTILES) if fan else np.empty((0, 0))
    if not (np.isfinite(terminal).all() and np.isfinite(bands).all()):
        # Extreme supplied returns compounded over a long horizon exceed float64 (or the float32 fan).
        raise InsufficientData(
            f"simulated values overflow over {H} steps: the history's returns compound beyond what can be "
            "represented; use a shorter horizon or check the returns",
            [{"loc": ["monte_carlo", "horizon"], "msg": "simulated values overflow; use a shorter horizon",
              "type": "insufficient_data"}])
    return _Run(terminal, bands, initial, H, P, _warnings(frame, missing, H, R.shape[0]))


def _result(settings: MonteCarloSettings, P: int, initial: float, terminal: np.ndarray,
            fan: np.ndarray, warnings: list[str]) -> MonteCarloResult:
    expected = float(terminal.mean())
    terminal = np.sort(terminal)  # once: the percentiles, VaR/CVaR and histogram below all want it sorted
    pct = np.percentile(terminal, FAN_PERCENTILES)
    var, cvar = horizon_var_cvar(terminal / initial - 1.0)
    counts, edges = np.histogram(terminal, bins=HISTOGRAM_BINS)
    return MonteCarloResult(
        method=settings.method, mode=settings.mode, paths=settings.paths, horizon=settings.horizon,
        seed=settings.seed, periods_per_year=P, initial_value=initial,
        probability_of_loss=float(np.mean(terminal < initial)),
        terminal_percentiles={f"p{q:g}": float(v) for q, v in zip(FAN_PERCENTILES, pct, strict=True)},
        downside_terminal_value=float(pct[0]),
        expected_terminal_value=expected,
        horizon_var_95=var, horizon_cvar_95=cvar,
        fan=FanChart(percentiles=list(FAN_PERCENTILES) if fan.size else [], bands=fan.tolist()),
        histogram_edges=edges.tolist(), histogram_counts=[int(c) for c in counts],
        warnings=warnings,
    )


def horizon_var_cvar(r: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """VaR and CVaR of the horizon returns ``r``, as positive losses (METRICS.md conventions:
    VaR = ``-quantile(r, alpha)``, linear; CVaR = Rockafellar–Uryasev with the fractional tail)."""
    var = -float(np.quantile(r, alpha))
    k = alpha * r.size
    m = int(np.floor(k))
    worst = np.sort(r)[: m + 1]
    tail = worst[:m].sum() + ((k - m) * worst[m] if m < r.size else 0.0)
    return var, -float(tail / k)


def _warnings(frame: ReturnsFrame, missing: list[str], horizon: int, T: int) -> list[str]:
    P = frame.periods_per_year
    out = list(frame.warnings)
    if frame.uncovered:
        out.append(f"no history and no proxy for {', '.join(frame.uncovered)}: simulated as cash (0 % return)")
    if missing:
        out.append(f"no return column for {', '.join(missing)}: simulated as cash (0 % return)")
    if horizon / P > 5:
        out.append(f"the horizon is {horizon / P:.1f} years: beyond 5 years the history says little "
                   "about the distribution, read the bands with care")
    if T < P:
        out.append(f"the history has only {T} periods (less than a year): the simulated "
                   "distribution rests on very little data")
    return list(dict.fromkeys(out))
