"""The target optimiser: constraints (property-based), independent checks, fallbacks, explanations."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from engine.errors import InvalidRequest
from engine.forecast import forecast, point_in_time_covariance
from engine.optimize import OptimizeInputs, objective_value, optimize_targets, reference_problem
from engine.schemas.ai import ForecastSettings, OptimizeSettings

CLASSES = ("equity", "fixed_income", "commodity")


def _inputs(rng: np.random.Generator, n: int, *, drift: float = 0.0, conf: tuple[float, float] = (0.2, 0.9),
            classes: bool = True) -> OptimizeInputs:
    a = rng.normal(0, 0.15, (n, n + 2))
    mu = rng.normal(0.05, 0.15, n)
    strategic = rng.dirichlet(np.ones(n))
    current = np.clip(strategic + rng.normal(0, drift, n), 0, None) if drift else strategic.copy()
    current = current / current.sum()
    return OptimizeInputs(
        symbols=tuple(f"S{i}" for i in range(n)), strategic=strategic, current=current, expected_returns=mu,
        confidence=rng.uniform(*conf, n), covariance=a @ a.T / (n + 2),
        classes=tuple(CLASSES[i % 3] for i in range(n)) if classes else None,
        signals={"momentum": 0.5 * mu, "mean_reversion": 0.2 * mu, "ewma": 0.3 * mu}, horizon_years=0.25,
    )


def _assert_constraints(res, x: OptimizeInputs, s: OptimizeSettings) -> None:
    w = np.array([res.weights[k] for k in x.symbols])
    assert abs(w.sum() - 1) <= 1e-6 and np.all(w >= 0)
    if res.status == "fallback":
        assert np.array_equal(w, x.strategic) and res.reason
        return
    assert np.maximum(w - x.current, 0).sum() <= s.turnover_limit + 1e-6
    assert np.all(np.abs(w - x.strategic) <= s.max_deviation * x.confidence + 1e-6)
    for k, lim in s.class_limits.items():
        total = w[np.array(x.classes) == k].sum()
        assert lim.min - 1e-6 <= total <= lim.max + 1e-6
    assert res.turnover == pytest.approx(np.maximum(w - x.current, 0).sum())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 9), drift=st.floats(0, 0.05),
       turnover=st.floats(0.005, 0.5), deviation=st.floats(0, 0.3), cmin=st.floats(0, 0.5), width=st.floats(0, 0.6),
       gamma=st.floats(0, 50), cost=st.floats(0, 100))
def test_constraints_hold_whatever_the_inputs(seed, n, drift, turnover, deviation, cmin, width, gamma, cost) -> None:
    x = _inputs(np.random.default_rng(seed), n, drift=drift)
    s = OptimizeSettings(risk_aversion=gamma, cost_bps=cost, turnover_limit=turnover, max_deviation=deviation,
                         min_confidence=0.0, class_limits={"equity": {"min": cmin, "max": min(1.0, cmin + width)}})
    _assert_constraints(optimize_targets(x, s), x, s)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 9), turnover=st.floats(0.01, 0.5),
       deviation=st.floats(0.01, 0.3), slack=st.floats(0, 0.2), gamma=st.floats(0, 50), cost=st.floats(0, 50))
def test_a_feasible_problem_is_optimised_and_beats_the_strategic_targets(seed, n, turnover, deviation, slack,
                                                                         gamma, cost) -> None:
    """Starting at the strategic targets with class limits around them, the problem is feasible."""
    x = _inputs(np.random.default_rng(seed), n)
    eq = x.strategic[np.array(x.classes) == "equity"].sum()
    s = OptimizeSettings(risk_aversion=gamma, cost_bps=cost, turnover_limit=turnover, max_deviation=deviation,
                         min_confidence=0.0, class_limits={"equity": {"min": max(0, eq - slack), "max": min(1, eq + slack)}})
    res = optimize_targets(x, s)
    assert res.status == "optimised", res.reason
    _assert_constraints(res, x, s)
    # Within the solver's tolerance (Clarabel stops at 1e-8 gaps): where no tilt helps, the optimum
    # is the strategic allocation itself, returned with round-off of that order.
    assert res.objective >= objective_value(x.strategic, x, s) - 1e-8


def test_two_assets_match_the_closed_form() -> None:
    # w = s + (d, -d): objective h(c1μ1 − c2μ2)d − γh v d² − 2κ|d|, v = Σ11 − 2Σ12 + Σ22.
    cov = np.array([[0.04, 0.006], [0.006, 0.09]])
    x = OptimizeInputs(("A", "B"), np.array([0.6, 0.4]), np.array([0.6, 0.4]), np.array([0.12, 0.02]),
                       np.array([0.8, 0.5]), cov, horizon_years=0.5)
    s = OptimizeSettings(risk_aversion=2.0, cost_bps=10.0, turnover_limit=0.5, max_deviation=0.5, min_confidence=0.0)
    v = 0.04 - 2 * 0.006 + 0.09
    d = (0.5 * (0.8 * 0.12 - 0.5 * 0.02) - 2 * 0.001) / (2 * 2.0 * 0.5 * v)
    res = optimize_targets(x, s)
    assert res.status == "optimised"
    assert res.weights["A"] == pytest.approx(0.6 + d, abs=1e-7)
    assert res.turnover == pytest.approx(d, abs=1e-7) and res.cost == pytest.approx(2 * 0.001 * d, abs=1e-9)


def test_matches_scipy_on_a_small_problem() -> None:
    x = _inputs(np.random.default_rng(42), 5, drift=0.03)
    s = OptimizeSettings(risk_aversion=3.0, cost_bps=25.0, turnover_limit=0.06, max_deviation=0.2, min_confidence=0.0,
                         class_limits={"equity": {"min": 0.0, "max": 0.35}})
    res = optimize_targets(x, s)
    assert res.status == "optimised"
    # Independent smooth form: z = (w, buys, sells), w − w0 = buys − sells, solved by SLSQP.
    n, cs = 5, x.confidence * x.expected_returns
    eq_mask = (np.array(x.classes) == "equity").astype(float)

    def neg(z):
        w, b, q = z[:n], z[n:2 * n], z[2 * n:]
        d = w - x.strategic
        return -(0.25 * cs @ w - 3.0 * 0.25 * d @ x.covariance @ d - 0.0025 * (b + q).sum())

    cons = [{"type": "eq", "fun": lambda z: z[:n].sum() - 1},
            {"type": "eq", "fun": lambda z: z[:n] - x.current - z[n:2 * n] + z[2 * n:]},
            {"type": "ineq", "fun": lambda z: 0.06 - z[n:2 * n].sum()},
            {"type": "ineq", "fun": lambda z: 0.35 - eq_mask @ z[:n]}]
    room = 0.2 * x.confidence
    bounds = [(max(0, si - r), min(1, si + r)) for si, r in zip(x.strategic, room, strict=True)] + [(0, None)] * (2 * n)
    z0 = np.r_[x.current, np.zeros(2 * n)]
    ref = minimize(neg, z0, method="SLSQP", bounds=bounds, constraints=cons, options={"ftol": 1e-14, "maxiter": 500})
    assert ref.success
    assert np.array([res.weights[k] for k in x.symbols]) == pytest.approx(ref.x[:n], abs=1e-5)
    assert res.objective == pytest.approx(-ref.fun, abs=1e-9)


def test_reference_formulation_gives_the_same_objective() -> None:
    x = _inputs(np.random.default_rng(9), 40, drift=0.005)
    eq, co = (x.strategic[np.array(x.classes) == k].sum() for k in ("equity", "commodity"))
    s = OptimizeSettings(turnover_limit=0.08, max_deviation=0.1, min_confidence=0.0,
                         class_limits={"equity": {"min": eq - 0.02, "max": eq + 0.01},
                                       "commodity": {"min": 0.0, "max": co + 0.01}})
    res = optimize_targets(x, s)
    problem, w = reference_problem(x, s)
    problem.solve(solver="CLARABEL")
    assert res.status == "optimised" and problem.status == "optimal"
    assert res.objective == pytest.approx(problem.value, abs=1e-6)
    assert objective_value(np.asarray(w.value), x, s) == pytest.approx(problem.value, abs=1e-9)


def test_zero_confidence_assets_stay_at_their_strategic_targets() -> None:
    x = _inputs(np.random.default_rng(4), 6)
    conf = x.confidence.copy()
    conf[[1, 4]] = 0.0
    x = OptimizeInputs(**{**x.__dict__, "confidence": conf})
    res = optimize_targets(x, OptimizeSettings(max_deviation=0.3, risk_aversion=0.5, min_confidence=0.0))
    assert res.status == "optimised"
    for i in (1, 4):
        a = res.assets[i]
        assert a.optimised == x.strategic[i] and a.max_tilt == 0 and "confidence 0" in a.reason
    assert any(abs(a.tilt) > 1e-4 for a in res.assets)


def test_fallback_on_low_confidence() -> None:
    x = _inputs(np.random.default_rng(1), 4, conf=(0.0, 0.02))
    res = optimize_targets(x, OptimizeSettings(min_confidence=0.05))
    assert res.status == "fallback" and "average confidence" in res.reason and res.solver_status is None
    assert res.weights == dict(zip(x.symbols, x.strategic.tolist(), strict=True))


@pytest.mark.parametrize(
    ("limits", "turnover", "deviation", "drift", "expected"),
    [
        ({"equity": {"min": 0.95, "max": 1.0}}, 0.5, 0.1, 0.0, "class 'equity'"),
        ({}, 0.001, 0.01, 0.08, "turnover"),
        # Each class alone is reachable; together they need 120 %: only the solver can tell.
        ({"equity": {"min": 0.6, "max": 1.0}, "fixed_income": {"min": 0.6, "max": 1.0}}, 0.5, 1.0, 0.0, "no solution"),
    ],
)
def test_fallback_when_infeasible(limits, turnover, deviation, drift, expected) -> None:
    rng = np.random.default_rng(8)
    x = _inputs(rng, 6, drift=drift, conf=(1.0, 1.0))
    x = OptimizeInputs(**{**x.__dict__, "strategic": np.full(6, 1 / 6)})
    res = optimize_targets(x, OptimizeSettings(class_limits=limits, turnover_limit=turnover, max_deviation=deviation))
    assert res.status == "fallback" and expected in res.reason and "strategic targets are kept" in res.reason
    assert res.weights == dict(zip(x.symbols, x.strategic.tolist(), strict=True))


def test_fallback_when_the_solver_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import clarabel

    class Boom:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def solve(self):
            raise RuntimeError("numerical trouble")

    monkeypatch.setattr(clarabel, "DefaultSolver", Boom)
    x = _inputs(np.random.default_rng(2), 4)
    res = optimize_targets(x, OptimizeSettings(min_confidence=0.0))
    assert res.status == "fallback" and "solver failed" in res.reason and "numerical trouble" in res.reason
    assert res.weights == dict(zip(x.symbols, x.strategic.tolist(), strict=True))


def test_tilts_are_explained_term_by_term() -> None:
    x = _inputs(np.random.default_rng(6), 8, drift=0.02)
    s = OptimizeSettings(risk_aversion=2.0, turnover_limit=0.2, max_deviation=0.15, min_confidence=0.0)
    res = optimize_targets(x, s)
    assert res.status == "optimised"
    for a in res.assets:
        assert sum(a.signal_terms.values()) == pytest.approx(a.return_term, abs=1e-15)
        assert a.tilt == pytest.approx(a.optimised - a.strategic) and a.reason
    # Terms add up to the objective's gain over the strategic targets' forecast return.
    base = 0.25 * (x.confidence * x.expected_returns) @ x.strategic
    total = sum(a.return_term + a.risk_term + a.cost_term for a in res.assets)
    assert base + total == pytest.approx(res.objective, abs=1e-12)
    assert any(a.binding for a in res.assets) or res.binding


def test_invalid_inputs_are_rejected() -> None:
    x = _inputs(np.random.default_rng(3), 3)
    bad_cov = np.array([[1.0, 2.0, 0], [2.0, 1.0, 0], [0, 0, 1.0]])  # eigenvalue −1
    with pytest.raises(InvalidRequest, match="positive semidefinite"):
        optimize_targets(OptimizeInputs(**{**x.__dict__, "covariance": bad_cov}))
    with pytest.raises(InvalidRequest, match="sum to 1"):
        optimize_targets(OptimizeInputs(**{**x.__dict__, "strategic": np.array([0.5, 0.3, 0.1])}))
    with pytest.raises(InvalidRequest) as err:
        optimize_targets(x, {"turnover_limit": 2.0})
    assert err.value.details[0]["loc"] == ["turnover_limit"]


@pytest.mark.parametrize("n", [40, 300, 700])
def test_the_blocked_cholesky_test_agrees_with_numpy(n: int) -> None:
    from engine.optimize import _check, _cholesky_test

    rng = np.random.default_rng(n)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eig = rng.uniform(0.01, 1.0, n)
    _cholesky_test(q * eig @ q.T)  # positive definite: passes
    eig[rng.integers(n)] = -1e-3    # one negative eigenvalue, anywhere
    with pytest.raises(np.linalg.LinAlgError):
        _cholesky_test(q * eig @ q.T)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(q * eig @ q.T)
    # A rank-deficient covariance (20 factors) is positive semidefinite: accepted thanks to the jitter.
    f = rng.normal(0, 0.04, (n, 20))
    x = OptimizeInputs(tuple(map(str, range(n))), np.full(n, 1 / n), np.full(n, 1 / n), np.zeros(n), np.ones(n), f @ f.T)
    _check(x)
    with pytest.raises(InvalidRequest, match="positive semidefinite"):
        _check(OptimizeInputs(**{**x.__dict__, "covariance": q * eig @ q.T}))


def test_cvxpy_stays_off_the_import_path() -> None:
    # cvxpy is a test/bench dependency only: importing the engine and optimising must not touch it.
    code = ("import sys, numpy as np, engine.optimize, engine.forecast, engine.evaluation, engine.schemas.ai\n"
            "bad = 'cvxpy' in sys.modules or 'scipy.stats' in sys.modules\n"
            "from engine.optimize import OptimizeInputs, optimize_targets\n"
            "x = OptimizeInputs(('A', 'B'), np.array([0.6, 0.4]), np.array([0.5, 0.5]), np.array([0.1, 0.0]),\n"
            "                   np.array([0.8, 0.8]), np.diag([0.04, 0.09]))\n"
            "res = optimize_targets(x, {'min_confidence': 0.0})\n"
            "sys.exit(bad or res.status != 'optimised' or 'cvxpy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_from_a_forecast_end_to_end() -> None:
    import pandas as pd

    rng = np.random.default_rng(21)
    drift = np.array([0.002, 0.0, -0.002, 0.0005])
    frame = pd.DataFrame(rng.normal(drift, 0.005, (300, 4)), index=pd.bdate_range("2015-01-01", periods=300),
                         columns=["SPY", "AGG", "GOLD", "BTC"])
    fs = ForecastSettings(short_window=21, long_window=126, half_life=42, horizon=21)
    fc = forecast(frame, settings=fs)
    cov = point_in_time_covariance(frame, settings=fs)
    x = OptimizeInputs.from_forecast(fc, cov, [0.4, 0.3, 0.2, 0.1], [0.42, 0.28, 0.2, 0.1],
                                     classes=["equity", "fixed_income", "commodity", "crypto"])
    assert x.horizon_years == pytest.approx(21 / 252) and set(x.signals) == {"momentum", "mean_reversion", "ewma"}
    res = optimize_targets(x, OptimizeSettings(max_deviation=0.1, risk_aversion=1.0, min_confidence=0.0))
    assert res.status == "optimised"
    assert res.weights["SPY"] > 0.4 > 0.2 > res.weights["GOLD"]  # the strong drifts are followed
    spy = res.assets[0]
    assert spy.tilt > 0 and spy.reason.startswith("overweight")
    assert sum(spy.signal_terms.values()) == pytest.approx(spy.return_term)
