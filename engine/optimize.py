"""Optimised targets: a convex, confidence-scaled tilt of the strategic targets (a QP solved by Clarabel).

The problem, with ``s`` the strategic targets, ``w0`` the current weights, ``h`` the forecast
horizon in years, ``c`` the confidence, ``μ`` and ``Σ`` annualised, ``κ`` the cost per unit traded::

    maximise   h·(c∘μ)ᵀw − γ·h·(w − s)ᵀΣ(w − s) − κᵀ|w − w0|
    subject to Σw = 1,  w ≥ 0,  |w − s| ≤ δ·c,  Σ_i max(w_i − w0_i, 0) ≤ τ,
               lo_k ≤ Σ_{i ∈ class k} w_i ≤ hi_k

Why this shape: return and risk are taken over the forecast horizon and the cost is paid once,
so the three terms are in the same unit. The risk term is the *active* variance against the
strategic targets (the client's strategic allocation already fixes total risk; the overlay
spends tracking risk only where a forecast pays for it). Confidence scales the tilt twice, on
purpose: the forecast is shrunk (``c∘μ`` is the empirical-Bayes estimate, see
:mod:`engine.forecast`) and the room to tilt is ``δ·c``, so a zero-confidence asset stays
exactly at its strategic target instead of being used to hedge other bets.

The quadratic program is built directly in Clarabel's standard form (:mod:`engine.optimize_qp`):
no modelling layer at run time. :func:`reference_problem` writes the same problem the plain
cvxpy way for the tests and the bench; cvxpy (≈ 0.8 s to import) is imported only there and is
a test/bench dependency, not a runtime one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InvalidRequest
from engine.optimize_qp import NO_SOLUTION, build_qp, solve_qp
from engine.schemas.ai import ForecastResult, OptimizedTargets, OptimizeSettings, TiltExplanation

SOLVER = "CLARABEL"
TOL = 1e-6
_EPS = 1e-7  # "at a bound" for explanations

__all__ = ["SOLVER", "OptimizeInputs", "explain_tilts", "objective_value", "optimize_targets", "reference_problem"]


@dataclass(frozen=True)
class OptimizeInputs:
    """Arrays of one optimisation, all aligned on ``symbols`` (N assets).

    Attributes
    ----------
    symbols : tuple of str
    strategic, current : ndarray (N,)
        Strategic targets (sum to 1) and current weights (≥ 0, sum ≤ 1; any remainder is cash).
    expected_returns, confidence : ndarray (N,)
        Annualised forecast μ and its confidence in [0, 1].
    covariance : ndarray (N, N)
        Annualised covariance Σ (positive semidefinite).
    classes : tuple of str, optional
        Economic exposure of each asset, for ``OptimizeSettings.class_limits``.
    signals : mapping signal name -> ndarray (N,), optional
        Each signal's annualised contribution to μ (they sum to μ), to explain the tilts.
    horizon_years : float
        Forecast horizon in years (forecast horizon / periods per year).
    cost_bps : ndarray (N,), optional
        Per-asset cost overriding ``OptimizeSettings.cost_bps``.
    """

    symbols: tuple[str, ...]
    strategic: np.ndarray
    current: np.ndarray
    expected_returns: np.ndarray
    confidence: np.ndarray
    covariance: np.ndarray
    classes: tuple[str, ...] | None = None
    signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    horizon_years: float = 1.0 / 12.0
    cost_bps: np.ndarray | None = None

    @classmethod
    def from_forecast(cls, forecast: ForecastResult, covariance: np.ndarray, strategic: Sequence[float],
                      current: Sequence[float], classes: Sequence[str] | None = None,
                      cost_bps: Sequence[float] | None = None) -> OptimizeInputs:
        """Inputs from a :class:`ForecastResult` (its assets' order) and the book's weights."""
        signals = {s.signal: np.array([a.signals[k].contribution for a in forecast.assets])
                   for k, s in enumerate(forecast.assets[0].signals)} if forecast.assets else {}
        return cls(
            symbols=tuple(a.symbol for a in forecast.assets), strategic=np.asarray(strategic, float),
            current=np.asarray(current, float), expected_returns=np.array([a.expected_return for a in forecast.assets]),
            confidence=np.array([a.confidence for a in forecast.assets]), covariance=np.asarray(covariance, float),
            classes=tuple(classes) if classes is not None else None, signals=signals,
            horizon_years=forecast.horizon / forecast.periods_per_year,
            cost_bps=np.asarray(cost_bps, float) if cost_bps is not None else None,
        )


# --- validation and problem data -----------------------------------------------------------------
def _invalid(loc: str, msg: str) -> InvalidRequest:
    return InvalidRequest(f"{loc}: {msg}", [{"loc": [loc], "msg": msg, "type": "value_error"}])


def _check(x: OptimizeInputs) -> None:
    n = len(x.symbols)
    vectors = {"strategic": x.strategic, "current": x.current, "expected_returns": x.expected_returns,
               "confidence": x.confidence, **({"cost_bps": x.cost_bps} if x.cost_bps is not None else {})}
    for name, v in vectors.items():
        if np.shape(v) != (n,) or not np.all(np.isfinite(v)):
            raise _invalid(name, f"must be {n} finite numbers")
    if np.shape(x.covariance) != (n, n) or not np.all(np.isfinite(x.covariance)):
        raise _invalid("covariance", f"must be a finite {n}×{n} matrix")
    if np.any(x.strategic < 0) or abs(x.strategic.sum() - 1.0) > TOL:
        raise _invalid("strategic", f"must be ≥ 0 and sum to 1 (sum {x.strategic.sum():.6f})")
    if np.any(x.current < 0) or x.current.sum() > 1.0 + TOL:
        raise _invalid("current", "must be ≥ 0 and sum to at most 1")
    if np.any((x.confidence < 0) | (x.confidence > 1)):
        raise _invalid("confidence", "must lie in [0, 1]")
    if x.classes is not None and len(x.classes) != n:
        raise _invalid("classes", f"must name {n} classes")
    if not x.horizon_years > 0:
        raise _invalid("horizon_years", "must be > 0")
    cov = x.covariance
    scale = max(float(np.abs(np.diag(cov)).max(initial=0.0)), 1e-300)
    if np.abs(cov - cov.T).max(initial=0.0) > 1e-8 * scale:
        raise _invalid("covariance", "must be symmetric")
    try:  # a Cholesky with a relative jitter: a cheap positive-semidefiniteness test
        _cholesky_test(cov + 1e-9 * scale * np.eye(n))
    except np.linalg.LinAlgError:
        raise _invalid("covariance", "must be positive semidefinite") from None


def _cholesky_test(a: np.ndarray, block: int = 256) -> None:
    """Raise ``LinAlgError`` unless ``a`` is positive definite: a Cholesky in two halves.

    ``a = [[A, B], [Bᵀ, C]]`` is positive definite iff ``A`` and ``C − BᵀA⁻¹B`` are. Above about
    256 rows OpenBLAS runs its Cholesky on several threads with many synchronisation points; on a
    busy 2-core machine that took 0.24 s for 500 assets instead of 4 ms, while two halves and one
    product stay at 2–3 ms either way. Only the second half recurses, so the first is factored
    whole: at most ``block`` rows up to ``2 * block`` assets, more above that.
    """
    n = len(a)
    if n <= block:
        np.linalg.cholesky(a)
        return
    h = n // 2
    lower = np.linalg.cholesky(a[:h, :h])
    y = np.linalg.solve(lower, a[:h, h:])  # L⁻¹B, so BᵀA⁻¹B = yᵀy
    _cholesky_test(a[h:, h:] - y.T @ y, block)


@dataclass(frozen=True)
class _Data:
    """The numbers the problem is built from (shared by the fast and the reference form)."""

    mu: np.ndarray      # h·c·μ
    gamma_h: float      # γ·h
    kappa: np.ndarray   # cost per unit traded
    lo: np.ndarray      # max(0, s − δc)
    hi: np.ndarray      # min(1, s + δc)
    groups: dict[str, np.ndarray]  # class -> boolean mask, only classes with limits
    limits: dict[str, tuple[float, float]]


def _data(x: OptimizeInputs, st: OptimizeSettings) -> _Data:
    room = st.max_deviation * x.confidence
    kappa = (x.cost_bps if x.cost_bps is not None else np.full(len(x.symbols), st.cost_bps)) / 1e4
    labels = np.asarray(x.classes if x.classes is not None else [""] * len(x.symbols), dtype=object)
    groups = {k: labels == k for k in st.class_limits}
    limits = {k: (v.min, v.max) for k, v in st.class_limits.items()}
    return _Data(mu=x.horizon_years * x.confidence * x.expected_returns, gamma_h=st.risk_aversion * x.horizon_years,
                 kappa=kappa, lo=np.maximum(0.0, x.strategic - room), hi=np.minimum(1.0, x.strategic + room),
                 groups=groups, limits=limits)


def objective_value(w: np.ndarray, x: OptimizeInputs, settings: OptimizeSettings) -> float:
    """The objective (in numpy) at weights ``w``: what both formulations maximise."""
    d, data = w - x.strategic, _data(x, settings)
    return float(data.mu @ w - data.gamma_h * d @ x.covariance @ d - data.kappa @ np.abs(w - x.current))


def _infeasibility(x: OptimizeInputs, st: OptimizeSettings, data: _Data) -> str | None:
    """A specific reason when the constraints visibly cannot hold together, else None."""
    if data.lo.sum() > 1 + TOL or data.hi.sum() < 1 - TOL:
        return (f"the deviation bounds allow total weights between {data.lo.sum():.4f} and "
                f"{data.hi.sum():.4f}, not 1")
    for k, mask in data.groups.items():
        cmin, cmax = data.limits[k]
        if data.lo[mask].sum() > cmax + TOL or data.hi[mask].sum() < cmin - TOL:
            return (f"class '{k}' must stay within {cmin:.2%}–{cmax:.2%} but its deviation bounds allow "
                    f"{data.lo[mask].sum():.2%}–{data.hi[mask].sum():.2%}")
    cash = 1.0 - x.current.sum()
    buys = max(np.maximum(data.lo - x.current, 0).sum(), np.maximum(x.current - data.hi, 0).sum() + cash)
    if buys > st.turnover_limit + TOL:
        return (f"reaching the deviation bounds from the current weights needs at least {buys:.2%} turnover, "
                f"above the {st.turnover_limit:.2%} limit")
    return None


# --- the reference formulation ------------------------------------------------------------------
def reference_problem(x: OptimizeInputs, settings: OptimizeSettings | None = None) -> tuple[Any, Any]:
    """The same problem written the plain way, for the benchmark: ``(cvxpy.Problem, w variable)``.

    Solve it with ``problem.solve(solver="CLARABEL")``; ``problem.value`` then equals
    :func:`optimize_targets`' ``objective`` (when it did not fall back) to solver precision.
    """
    import cvxpy as cp

    st = settings or OptimizeSettings()
    data = _data(x, st)
    c, s = x.confidence, x.strategic
    w = cp.Variable(len(x.symbols))
    constraints = [w >= 0, cp.sum(w) == 1, cp.abs(w - s) <= st.max_deviation * c,
                   cp.sum(cp.pos(w - x.current)) <= st.turnover_limit]
    for k, mask in data.groups.items():
        constraints += [cp.sum(w[np.flatnonzero(mask)]) >= data.limits[k][0],
                        cp.sum(w[np.flatnonzero(mask)]) <= data.limits[k][1]]
    objective = cp.Maximize(x.horizon_years * (c * x.expected_returns) @ w
                            - st.risk_aversion * x.horizon_years * cp.quad_form(w - s, x.covariance)
                            - data.kappa @ cp.abs(w - x.current))
    return cp.Problem(objective, constraints), w


# --- the entry point -----------------------------------------------------------------------------
def optimize_targets(inputs: OptimizeInputs, settings: OptimizeSettings | Mapping[str, Any] | None = None
                     ) -> OptimizedTargets:
    """Optimised target weights around the strategic targets, each tilt explained.

    Returns the strategic targets (``status="fallback"``, with the reason) when the average
    confidence is below ``settings.min_confidence``, when the constraints cannot hold together,
    or when the solver fails.

    Raises
    ------
    InvalidRequest
        Inputs of the wrong shape, non-finite, a strategic allocation not summing to 1, or a
        covariance that is not symmetric positive semidefinite.
    """
    from engine.service import validate

    st = validate(OptimizeSettings, settings or {})
    x = inputs
    _check(x)
    data = _data(x, st)
    avg_conf = float(x.confidence.mean()) if len(x.symbols) else 0.0
    if avg_conf < st.min_confidence:
        return _fallback(x, st, f"average confidence {avg_conf:.3f} is below the {st.min_confidence:.3f} "
                                "threshold: the strategic targets are kept")
    why = _infeasibility(x, st, data)
    if why:
        return _fallback(x, st, f"infeasible: {why}; the strategic targets are kept")
    qp = build_qp(x.covariance, x.strategic, x.current, mu=data.mu, gamma_h=data.gamma_h, kappa=data.kappa,
                  lo=data.lo, hi=data.hi, turnover_limit=st.turnover_limit,
                  classes=[(m, *data.limits[k]) for k, m in data.groups.items()])
    try:
        sol = solve_qp(qp)
    except BaseException as exc:  # a Rust panic surfaces as pyo3's PanicException, a BaseException
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise  # KeyboardInterrupt, SystemExit: not a solver failure
        return _fallback(x, st, f"the solver failed ({type(exc).__name__}: {exc}); the strategic targets are kept")
    if sol.weights is None and sol.status in NO_SOLUTION:
        return _fallback(x, st, f"the solver found no solution ({sol.status}): no weights satisfy every "
                                "constraint together; the strategic targets are kept", sol.status)
    if sol.weights is None:  # stopped at a limit or failed numerically: says nothing about the constraints
        return _fallback(x, st, f"the solver stopped without a solution ({sol.status}); the strategic targets "
                                "are kept", sol.status)
    weights = _clean(sol.weights, data)
    broken = _violations(weights, x, st, data)
    if broken:
        return _fallback(x, st, f"the solver's weights break {broken}; the strategic targets are kept", sol.status)
    warnings = ["the solver reported an inaccurate optimum"] if sol.status == "optimal_inaccurate" else []
    return _result(x, st, weights, "optimised", "optimal tilt within every constraint", sol.status,
                   sol.seconds, warnings)


def _clean(w: np.ndarray, data: _Data) -> np.ndarray:
    """Remove solver round-off: clip to the box, then spread the sum's residue over the free room."""
    w = np.clip(w, data.lo, data.hi)
    residue = 1.0 - w.sum()
    room = (data.hi - w) if residue > 0 else (w - data.lo)
    if room.sum() > 0:
        w = w + residue * room / room.sum()
    return w


def _violations(w: np.ndarray, x: OptimizeInputs, st: OptimizeSettings, data: _Data) -> str:
    broken = []
    if abs(w.sum() - 1) > TOL:
        broken.append("the sum to 1")
    if np.any(w < -TOL) or np.any(w < data.lo - TOL) or np.any(w > data.hi + TOL):
        broken.append("the deviation bounds")
    if np.maximum(w - x.current, 0).sum() > st.turnover_limit + TOL:
        broken.append("the turnover limit")
    for k, mask in data.groups.items():
        if not data.limits[k][0] - TOL <= w[mask].sum() <= data.limits[k][1] + TOL:
            broken.append(f"the '{k}' class limits")
    return ", ".join(broken)


def _fallback(x: OptimizeInputs, st: OptimizeSettings, reason: str, status: str | None = None) -> OptimizedTargets:
    warnings = []
    data = _data(x, st)
    if (buys := np.maximum(x.strategic - x.current, 0).sum()) > st.turnover_limit + TOL:
        warnings.append(f"moving to the strategic targets needs {buys:.2%} turnover, above the "
                        f"{st.turnover_limit:.2%} limit: the execution stage caps it")
    broken = [k for k, m in data.groups.items()
              if not data.limits[k][0] - TOL <= x.strategic[m].sum() <= data.limits[k][1] + TOL]
    if broken:
        warnings.append(f"the strategic targets break the class limits of {', '.join(broken)}")
    return _result(x, st, x.strategic.copy(), "fallback", reason, status, None, warnings)


def _result(x: OptimizeInputs, st: OptimizeSettings, w: np.ndarray, status: str, reason: str,
            solver_status: str | None, seconds: float | None, warnings: list[str]) -> OptimizedTargets:
    data = _data(x, st)
    d = w - x.strategic
    trade = w - x.current
    labels = x.classes or ()
    class_weights = {k: float(w[np.asarray(labels, dtype=object) == k].sum()) for k in dict.fromkeys(labels)}
    binding = []
    if np.maximum(trade, 0).sum() >= st.turnover_limit - _EPS:
        binding.append("turnover_limit")
    for k, mask in data.groups.items():
        total = w[mask].sum()
        if total <= data.limits[k][0] + _EPS:
            binding.append(f"class_min:{k}")
        if total >= data.limits[k][1] - _EPS:
            binding.append(f"class_max:{k}")
    return OptimizedTargets(
        status=status, reason=reason, solver=SOLVER, solver_status=solver_status, solve_seconds=seconds,
        objective=objective_value(w, x, st), weights={s: float(v) for s, v in zip(x.symbols, w, strict=True)},
        turnover=float(np.maximum(trade, 0).sum()), cost=float(data.kappa @ np.abs(trade)),
        expected_return=float((x.confidence * x.expected_returns) @ w),
        active_volatility=float(np.sqrt(max(d @ x.covariance @ d, 0.0))),
        average_confidence=float(x.confidence.mean()) if len(x.symbols) else 0.0,
        class_weights=class_weights, binding=binding, assets=explain_tilts(x, st, w, data), warnings=warnings,
    )


def _reason(d: float, mu: float, conf: float, max_tilt: float, terms: Mapping[str, float], binding: list[str]) -> str:
    if max_tilt == 0:
        return "kept at its strategic target: confidence 0 leaves no room to tilt"
    if abs(d) < _EPS:
        return f"kept at its strategic target: a forecast of {mu:+.1%}/yr at confidence {conf:.2f} does not pay for risk and costs"
    side = "overweight" if d > 0 else "underweight"
    text = f"{side} {d * 100:+.2f} pp: forecast {mu:+.1%}/yr at confidence {conf:.2f}"
    if terms and any(terms.values()):
        top = max(terms, key=lambda k: abs(terms[k]))
        text += f", mostly from {top.replace('_', ' ')}"
    if np.sign(d) != np.sign(mu):
        text += "; it funds or hedges tilts elsewhere"
    if binding:
        text += f"; at its {' and '.join(b.replace('_', ' ') for b in binding)} bound"
    return text


def explain_tilts(x: OptimizeInputs, st: OptimizeSettings, w: np.ndarray, data: _Data | None = None
                  ) -> list[TiltExplanation]:
    """Each asset's tilt split into its objective terms: return (by signal), active risk, cost.

    The risk terms are the Euler split of the active-variance penalty, so the per-asset terms
    add up to the objective's gain over holding the strategic targets, less the costs.
    """
    data = data or _data(x, st)
    d = w - x.strategic
    sigma_d = x.covariance @ d
    room = st.max_deviation * x.confidence
    ret_term = data.mu * d
    out = []
    for i, sym in enumerate(x.symbols):
        terms = {k: float(x.horizon_years * x.confidence[i] * v[i] * d[i]) for k, v in x.signals.items()}
        binding = (["long_only"] if w[i] <= _EPS else []) + (
            ["max_deviation"] if room[i] > 0 and abs(d[i]) >= room[i] - _EPS else [])
        out.append(TiltExplanation(
            symbol=sym, asset_class=x.classes[i] if x.classes else None, strategic=float(x.strategic[i]),
            current=float(x.current[i]), optimised=float(w[i]), tilt=float(d[i]), trade=float(w[i] - x.current[i]),
            expected_return=float(x.expected_returns[i]), confidence=float(x.confidence[i]),
            return_term=float(ret_term[i]), signal_terms=terms, risk_term=float(-data.gamma_h * d[i] * sigma_d[i]),
            cost_term=float(-data.kappa[i] * abs(w[i] - x.current[i])), max_tilt=float(room[i]), binding=binding,
            reason=_reason(float(d[i]), float(x.expected_returns[i]), float(x.confidence[i]), float(room[i]),
                           terms, binding),
        ))
    return out
