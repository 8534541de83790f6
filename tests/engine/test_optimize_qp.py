"""The direct Clarabel QP behind the optimiser: its arrays, its agreement with the plain cvxpy
formulation (``reference_problem`` solved by cvxpy + Clarabel), and its solver fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import optimize_qp
from engine.optimize import OptimizeInputs, _data, objective_value, optimize_targets, reference_problem
from engine.optimize_qp import Csc, _upper_csc, build_qp, solve_qp
from engine.schemas.ai import OptimizeSettings
from tests.engine.test_optimize import _assert_constraints, _inputs

OBJECTIVE_TOLERANCE = 1e-6  # issue 6: same objective as the plain cvxpy + Clarabel form within 1e-6


def _qp(x: OptimizeInputs, s: OptimizeSettings):
    d = _data(x, s)
    return build_qp(x.covariance, x.strategic, x.current, mu=d.mu, gamma_h=d.gamma_h, kappa=d.kappa, lo=d.lo,
                    hi=d.hi, turnover_limit=s.turnover_limit,
                    classes=[(m, *d.limits[k]) for k, m in d.groups.items()])


def _reference(x: OptimizeInputs, s: OptimizeSettings) -> tuple[str, float | None]:
    problem, _ = reference_problem(x, s)
    problem.solve(solver="CLARABEL")
    return problem.status, problem.value


def _class_limits(x: OptimizeInputs, slack: float) -> dict:
    eq = x.strategic[np.array(x.classes) == "equity"].sum()
    return {"equity": {"min": max(0.0, eq - slack), "max": min(1.0, eq + slack)}}


def test_upper_triangle_matches_scipy() -> None:
    m = np.random.default_rng(0).normal(size=(7, 7))
    ours = _upper_csc(m, 10)
    expected = sp.triu(sp.csc_matrix(np.pad(m, ((0, 3), (0, 3)))), format="csc")
    assert ours.shape == (10, 10) and ours.nnz == 28
    assert np.array_equal(ours.indptr, expected.indptr) and np.array_equal(ours.indices, expected.indices)
    assert np.array_equal(ours.data, expected.data)


def test_csc_from_entries_is_canonical_and_round_trips() -> None:
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(6, 4)) * (rng.uniform(size=(6, 4)) < 0.5)
    rows, cols = np.nonzero(np.ones_like(dense))  # every entry, zeros included: they are dropped
    order = rng.permutation(len(rows))
    m = Csc.from_entries(rows[order], cols[order], dense[rows, cols][order], dense.shape)
    ref = sp.csc_matrix(dense)
    assert np.array_equal(m.indptr, ref.indptr) and np.array_equal(m.indices, ref.indices)
    assert np.array_equal(m.data, ref.data) and m.nnz == ref.nnz == np.count_nonzero(dense)
    assert np.array_equal(m.toarray(), dense) and np.array_equal(m.to_scipy().toarray(), dense)


def test_the_arrays_encode_the_objective_and_every_constraint() -> None:
    x = _inputs(np.random.default_rng(11), 5, drift=0.03)
    x = OptimizeInputs(**{**x.__dict__, "current": x.current * 0.9})  # 10 % cash
    s = OptimizeSettings(risk_aversion=3.0, cost_bps=20.0, turnover_limit=0.2, max_deviation=0.1,
                         class_limits={"equity": {"min": 0.1, "max": 0.5}})
    qp, d = _qp(x, s), _data(x, s)
    P, A = qp.P.toarray(), qp.A.toarray()
    assert np.array_equal(np.triu(P), P)  # upper triangle only, as Clarabel wants
    assert qp.cones == (("zero", 1), ("nonnegative", 4 * 5 + 1 + 2))
    w = np.random.default_rng(1).dirichlet(np.ones(5))
    t = np.abs(w - x.current)
    z = np.r_[w, t]
    slack = qp.b - A @ z  # zero-cone row first, then rows that must be ≥ 0
    eq = np.array(x.classes) == "equity"
    expected = np.r_[1 - w.sum(), d.hi - w, w - d.lo, x.current - w + t, w - x.current + t,
                     s.turnover_limit - np.maximum(w - x.current, 0).sum(), 0.5 - w[eq].sum(), w[eq].sum() - 0.1]
    assert slack == pytest.approx(expected, abs=1e-12)
    # ½zᵀPz + qᵀz plus the dropped constant γh·sᵀΣs is minus the objective when t = |w − w0|.
    const = d.gamma_h * x.strategic @ x.covariance @ x.strategic
    value = 0.5 * z @ (P + np.triu(P, 1).T) @ z + qp.q @ z + const
    assert value == pytest.approx(-objective_value(w, x, s), abs=1e-14)


@pytest.mark.parametrize(("seed", "n", "kind"), [(1, 60, "classes"), (2, 25, "linear"), (3, 30, "zero confidence"),
                                                 (4, 40, "cash and binding turnover"), (5, 12, "no classes")])
def test_matches_the_plain_cvxpy_formulation(seed: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    x = _inputs(rng, n, drift=0.02 if kind.startswith("cash") else 0.005, classes=kind != "no classes")
    s = OptimizeSettings(risk_aversion=0.0 if kind == "linear" else 4.0, cost_bps=15.0, max_deviation=0.1,
                         turnover_limit=0.03 if kind.startswith("cash") else 0.3, min_confidence=0.0,
                         class_limits=_class_limits(x, 0.01) if x.classes else {})
    if kind == "zero confidence":
        conf = x.confidence.copy()
        conf[::4] = 0.0
        x = OptimizeInputs(**{**x.__dict__, "confidence": conf})
    if kind.startswith("cash"):
        x = OptimizeInputs(**{**x.__dict__, "current": x.current * 0.97})
    res = optimize_targets(x, s)
    status, value = _reference(x, s)
    assert res.status == "optimised" and status == "optimal", res.reason
    assert res.objective == pytest.approx(value, abs=OBJECTIVE_TOLERANCE)
    assert abs(res.objective - value) < 1e-8  # in fact both are at solver precision
    _assert_constraints(res, x, s)
    if kind.startswith("cash"):
        assert "turnover_limit" in res.binding
    if kind == "zero confidence":
        assert all(res.assets[i].optimised == x.strategic[i] for i in range(0, n, 4))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), drift=st.floats(0, 0.05),
       turnover=st.floats(0.01, 0.5), deviation=st.floats(0.0, 0.3), slack=st.floats(0, 0.3),
       gamma=st.floats(0, 50), cost=st.floats(0, 100))
def test_same_objective_as_the_plain_formulation_whatever_the_inputs(seed, n, drift, turnover, deviation, slack,
                                                                     gamma, cost) -> None:
    x = _inputs(np.random.default_rng(seed), n, drift=drift)
    s = OptimizeSettings(risk_aversion=gamma, cost_bps=cost, turnover_limit=turnover, max_deviation=deviation,
                         min_confidence=0.0, class_limits=_class_limits(x, slack))
    res = optimize_targets(x, s)
    _assert_constraints(res, x, s)  # long-only, sum 1, turnover, max deviation, class bounds
    status, value = _reference(x, s)
    if status == "optimal":
        assert res.status == "optimised", res.reason
        assert res.objective == pytest.approx(value, abs=OBJECTIVE_TOLERANCE)
    else:  # the reference finds no solution: we keep the strategic targets and say why
        assert status in ("infeasible", "infeasible_inaccurate") and res.status == "fallback"


def test_infeasible_is_reported_as_such() -> None:
    x = _inputs(np.random.default_rng(8), 6, conf=(1.0, 1.0))
    x = OptimizeInputs(**{**x.__dict__, "strategic": np.full(6, 1 / 6), "current": np.full(6, 1 / 6)})
    s = OptimizeSettings(max_deviation=1.0, class_limits={"equity": {"min": 0.6, "max": 1.0},
                                                          "fixed_income": {"min": 0.6, "max": 1.0}})
    sol = solve_qp(_qp(x, s))
    assert sol.status == "infeasible" and sol.weights is None and sol.refined  # checked again with refinement


def test_falls_back_to_qdldl_when_faer_is_not_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _inputs(np.random.default_rng(12), 20, drift=0.01)
    s = OptimizeSettings(min_confidence=0.0, class_limits=_class_limits(x, 0.02))
    qp = _qp(x, s)
    faer = solve_qp(qp)
    monkeypatch.setattr(optimize_qp, "LINEAR_SOLVERS", ("no_such_method", "qdldl"))
    qdldl = solve_qp(qp)
    assert (faer.linear_solver, qdldl.linear_solver) == ("faer", "qdldl") and not faer.refined
    assert objective_value(qdldl.weights, x, s) == pytest.approx(objective_value(faer.weights, x, s), abs=1e-10)


def test_scipy_matrices_when_the_binding_wants_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import clarabel

    real, seen = clarabel.DefaultSolver, []

    def strict(P, q, A, b, cones, settings):
        seen.append(type(P).__name__)
        if not sp.issparse(P) or not sp.issparse(A):
            raise AttributeError("'Csc' object has no attribute 'tocsc'")
        return real(P, q, A, b, cones, settings)

    x = _inputs(np.random.default_rng(13), 10, drift=0.01)
    s = OptimizeSettings(min_confidence=0.0)
    plain = optimize_targets(x, s)
    monkeypatch.setattr(clarabel, "DefaultSolver", strict)
    res = optimize_targets(x, s)
    assert seen == ["Csc", "csc_matrix"] and res.status == plain.status == "optimised"
    assert res.objective == pytest.approx(plain.objective, abs=1e-12)


class _Fake:
    """Stands in for ``clarabel.DefaultSolver``: returns a given status and x, or raises."""

    status: object = None
    x: list[float] | None = None
    error: BaseException | None = None
    calls: list[bool] = []  # iterative_refinement_enable of each solver built

    def __init__(self, P, q, A, b, cones, settings) -> None:
        self.refine = settings.iterative_refinement_enable
        _Fake.calls.append(self.refine)

    def solve(self):
        if self.error is not None:
            raise self.error
        return type("Solution", (), {"status": self.status, "x": self.x, "iterations": 3})()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    import clarabel

    monkeypatch.setattr(clarabel, "DefaultSolver", _Fake)
    for name, value in {"status": None, "x": None, "error": None, "calls": []}.items():
        monkeypatch.setattr(_Fake, name, value)
    return _Fake


def test_a_second_refined_attempt_when_the_first_is_not_certified(fake) -> None:
    import clarabel

    x = _inputs(np.random.default_rng(2), 4)
    s = OptimizeSettings(min_confidence=0.0)
    fake.status, fake.x = clarabel.SolverStatus.AlmostSolved, [*x.strategic, *np.abs(x.strategic - x.current)]
    res = optimize_targets(x, s)
    assert fake.calls == [False, True]  # the fast attempt, then the refined one
    assert res.status == "optimised" and res.solver_status == "optimal_inaccurate"
    assert res.warnings == ["the solver reported an inaccurate optimum"]


@pytest.mark.parametrize(("status", "x", "error", "expected"), [
    ("NumericalError", None, None, "the solver stopped without a solution (solver_error)"),
    ("MaxIterations", None, None, "the solver stopped without a solution (user_limit)"),
    ("PrimalInfeasible", None, None, "the solver found no solution (infeasible): no weights satisfy every"),
    ("Solved", [5.0, -4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], None, "the solver's weights break the turnover limit"),
    (None, None, RuntimeError("numerical trouble"), "the solver failed (RuntimeError: numerical trouble)"),
    (None, None, type("PanicException", (BaseException,), {})("rust panicked"), "the solver failed (PanicException"),
])
def test_solver_failures_fall_back_to_the_strategic_targets(fake, status, x, error, expected) -> None:
    import clarabel

    inputs = _inputs(np.random.default_rng(2), 4)  # current = strategic
    fake.status = getattr(clarabel.SolverStatus, status) if status else None
    fake.x, fake.error = x, error
    # A tight turnover limit: the fake "Solved" weights, once clipped to the box, still break it.
    res = optimize_targets(inputs, OptimizeSettings(min_confidence=0.0, turnover_limit=0.01, max_deviation=0.3))
    assert res.status == "fallback" and expected in res.reason and "strategic targets are kept" in res.reason
    assert res.weights == dict(zip(inputs.symbols, inputs.strategic.tolist(), strict=True))
    assert len(res.assets) == 4 and all(a.tilt == 0 for a in res.assets)


def test_an_interrupt_is_not_taken_for_a_solver_failure(fake) -> None:
    fake.error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        optimize_targets(_inputs(np.random.default_rng(2), 4), OptimizeSettings(min_confidence=0.0))
