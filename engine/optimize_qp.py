"""The optimiser's quadratic program, built directly in Clarabel's standard form and solved.

Clarabel solves ``minimise ½xᵀPx + qᵀx  subject to  Ax + s = b, s ∈ K`` (P upper triangular,
K a product of cones). With ``x = (w, t)``, ``t`` the epigraph of ``|w − w0|`` shared by the
cost and the turnover (``Σ max(w − w0, 0) = ½(Σ|w − w0| + cash)`` because ``Σw = 1``)::

    P = [[2γh·Σ, 0], [0, 0]]          q = (−h·c∘μ − 2γh·Σs,  κ)
    zero cone:        Σw = 1
    nonnegative cone: w ≤ hi,  −w ≤ −lo,  w − t ≤ w0,  −w − t ≤ −w0,  ½Σt ≤ τ − ½·cash,
                      M_k·w ≤ max_k,  −M_k·w ≤ −min_k   (one row per class with limits)

The constant ``γh·sᵀΣs`` of the expanded active variance is left out; callers evaluate the
objective in numpy at the returned weights. Building these arrays directly in numpy (instead of
through cvxpy) keeps the ≈ 0.8 s cvxpy import, its canonicalisation and scipy.sparse off the
run-time path; :func:`engine.optimize.reference_problem` keeps the plain cvxpy form for the
tests and the bench.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The supernodal LDLᵀ (faer) factors the dense Σ block of the KKT matrix about 1.5× faster than
# the default (qdldl) on 500 assets, same iterates; a build without it rejects the name, hence
# the fallback. Iterative refinement of each KKT solve costs another ≈ 1/3 there (≥ 80 ms even
# capped at one step) and does not change the iterates' count: it is off on the first attempt,
# whose answer is accepted only if Clarabel certifies it "Solved" at its default tolerances;
# anything else is solved again with refinement on. Threads, looser tolerances, no presolve:
# no measurable gain; no equilibration: more iterations (bench/bench_optimize.py, 500 assets).
LINEAR_SOLVERS = ("faer", "qdldl")

# Clarabel's statuses, named as cvxpy names them (what the results reported before).
# Limits and numerical failures become "user_limit" and "solver_error", cvxpy's names for them.
_STATUS = {"Solved": "optimal", "AlmostSolved": "optimal_inaccurate", "PrimalInfeasible": "infeasible",
           "AlmostPrimalInfeasible": "infeasible_inaccurate", "DualInfeasible": "unbounded",
           "AlmostDualInfeasible": "unbounded_inaccurate", "MaxIterations": "user_limit", "MaxTime": "user_limit",
           "NumericalError": "solver_error", "InsufficientProgress": "solver_error", "Unsolved": "solver_error",
           "CallbackTerminated": "solver_error"}
OPTIMAL = ("optimal", "optimal_inaccurate")
#: Statuses that mean the constraints (or the objective) admit no optimum, as opposed to a solver
#: that stopped early or failed numerically.
NO_SOLUTION = ("infeasible", "infeasible_inaccurate", "unbounded", "unbounded_inaccurate")

__all__ = ["LINEAR_SOLVERS", "NO_SOLUTION", "OPTIMAL", "QP", "Csc", "QPSolution", "build_qp", "solve_qp"]


@dataclass(frozen=True, eq=False)
class Csc:
    """A compressed-sparse-column matrix, as Clarabel's Python binding reads one.

    The binding takes any object with scipy's CSC attributes (``data``, ``indices``, ``indptr``,
    ``shape``, ``has_canonical_format``). Building these in numpy keeps ``scipy.sparse`` (≈ 0.12 s
    to import, nothing else at run time needs it) off the pipeline's cold path; a Clarabel that
    insists on scipy's own type gets one (:meth:`to_scipy`, see :func:`_solver`).
    """

    data: np.ndarray     # float64 values, column by column
    indices: np.ndarray  # row of each value, increasing within a column
    indptr: np.ndarray   # column j holds data[indptr[j]:indptr[j + 1]]
    shape: tuple[int, int]
    has_canonical_format: bool = True  # sorted and without duplicates, by construction

    @property
    def nnz(self) -> int:
        return len(self.data)

    @classmethod
    def from_entries(cls, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> Csc:
        """From distinct (row, column, value) entries in any order; zeros are dropped."""
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((rows, cols))
        indptr = np.zeros(shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=shape[1]), out=indptr[1:])
        return cls(vals[order].astype(float), rows[order].astype(np.int64), indptr, shape)

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape)
        out[self.indices, np.repeat(np.arange(self.shape[1]), np.diff(self.indptr))] = self.data
        return out

    def to_scipy(self) -> Any:
        import scipy.sparse as sp

        return sp.csc_matrix((self.data, self.indices, self.indptr), shape=self.shape)


@dataclass(frozen=True, eq=False)
class QP:
    """One problem in Clarabel's form."""

    P: Csc  # upper triangle only
    q: np.ndarray
    A: Csc
    b: np.ndarray
    cones: tuple[tuple[str, int], ...]  # ("zero" | "nonnegative", rows), in row order
    n: int                              # number of assets (w is x[:n])


@dataclass(frozen=True)
class QPSolution:
    """What the solver returned: ``weights`` is None unless ``status`` is in :data:`OPTIMAL`."""

    weights: np.ndarray | None
    status: str
    seconds: float
    iterations: int     # over both attempts when there were two
    linear_solver: str  # the direct_solve_method used ("faer" or "qdldl")
    refined: bool       # whether the answer came from the second, refined attempt


def _upper_csc(m: np.ndarray, size: int) -> Csc:
    """The upper triangle of dense ``m`` (n × n) padded with empty rows and columns to
    ``size × size``; straight from the index pattern (faster than sorting 125,000 entries)."""
    n = len(m)
    cols, rows = np.tril_indices(n)  # sorted by its first index: column-major for the upper triangle
    indptr = np.zeros(size + 1, dtype=np.int64)
    indptr[1:n + 1] = np.cumsum(np.arange(1, n + 1))
    indptr[n + 1:] = indptr[n]
    return Csc(m[rows, cols], rows.astype(np.int64), indptr, (size, size))


def _constraints(n: int, member: np.ndarray) -> Csc:
    """``A`` for ``x = (w, t)``, rows: Σw | w | −w | w − t | −w − t | ½Σt | M·w | −M·w."""
    j = np.arange(n)
    k_rows, k_cols = np.nonzero(member)
    k = len(member)
    rows = np.concatenate([np.zeros(n, int), 1 + j, 1 + n + j, 1 + 2 * n + j, 1 + 3 * n + j,  # w columns
                           1 + 2 * n + j, 1 + 3 * n + j, np.full(n, 1 + 4 * n),               # t columns
                           2 + 4 * n + k_rows, 2 + 4 * n + k + k_rows])
    cols = np.concatenate([j, j, j, j, j, n + j, n + j, n + j, k_cols, k_cols])
    vals = np.concatenate([np.ones(n), np.ones(n), -np.ones(n), np.ones(n), -np.ones(n), -np.ones(n), -np.ones(n),
                           np.full(n, 0.5), member[k_rows, k_cols], -member[k_rows, k_cols]])
    return Csc.from_entries(rows, cols, vals, (2 + 4 * n + 2 * k, 2 * n))


def build_qp(covariance: np.ndarray, strategic: np.ndarray, current: np.ndarray, *, mu: np.ndarray,
             gamma_h: float, kappa: np.ndarray, lo: np.ndarray, hi: np.ndarray, turnover_limit: float,
             classes: Sequence[tuple[np.ndarray, float, float]] = ()) -> QP:
    """The problem's arrays.

    Parameters
    ----------
    mu : ndarray (N,)
        Horizon forecast ``h·c∘μ`` (the linear return term).
    gamma_h : float
        ``γ·h``, the weight of the active variance ``(w − s)ᵀΣ(w − s)``.
    kappa, lo, hi : ndarray (N,)
        Cost per unit traded and the box ``lo ≤ w ≤ hi`` (long-only and maximum deviation).
    classes : sequence of (boolean mask (N,), min, max)
        Classes with limits on their summed weight.
    """
    n = len(strategic)
    member = np.array([m for m, _, _ in classes], dtype=float).reshape(len(classes), n)
    A = _constraints(n, member)
    cash = 1.0 - float(current.sum())
    b = np.concatenate([[1.0], hi, -lo, current, -current, [turnover_limit - 0.5 * cash],
                        [c[2] for c in classes], [-c[1] for c in classes]])
    if gamma_h > 0:
        P = _upper_csc(2.0 * gamma_h * covariance, 2 * n)
        q_w = -mu - 2.0 * gamma_h * (covariance @ strategic)
    else:  # a linear program: an empty P rather than N² stored zeros
        P = Csc(np.zeros(0), np.zeros(0, np.int64), np.zeros(2 * n + 1, np.int64), (2 * n, 2 * n))
        q_w = -mu
    return QP(P=P, q=np.concatenate([q_w, kappa]), A=A, b=b,
              cones=(("zero", 1), ("nonnegative", A.shape[0] - 1)), n=n)


def _settings(clarabel: Any, linear_solver: str, refine: bool) -> Any:
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.direct_solve_method = linear_solver
    settings.iterative_refinement_enable = refine
    return settings


def _solver(clarabel: Any, qp: QP, settings: Any) -> Any:
    kinds = {"zero": clarabel.ZeroConeT, "nonnegative": clarabel.NonnegativeConeT}
    cones = [kinds[kind](rows) for kind, rows in qp.cones]
    try:
        return clarabel.DefaultSolver(qp.P, qp.q, qp.A, qp.b, cones, settings)
    except (AttributeError, TypeError):  # a binding that no longer reads plain CSC attributes
        return clarabel.DefaultSolver(qp.P.to_scipy(), qp.q, qp.A.to_scipy(), qp.b, cones, settings)


def _solve(clarabel: Any, qp: QP, refine: bool) -> tuple[Any, str]:
    """One Clarabel solve with the first linear solver of :data:`LINEAR_SOLVERS` it accepts."""
    for k, method in enumerate(LINEAR_SOLVERS):
        try:
            solver = _solver(clarabel, qp, _settings(clarabel, method, refine))
        except Exception:  # "Bad settings": this build lacks the method; the last one is standard
            if k == len(LINEAR_SOLVERS) - 1:
                raise
            continue
        return solver.solve(), method
    raise AssertionError("unreachable")  # the loop returns or raises


def solve_qp(qp: QP) -> QPSolution:
    """Solve with Clarabel: fast settings first, refined settings unless that is certified optimal.

    Raises
    ------
    Exception
        Whatever Clarabel raises when no linear solver accepts the problem (the caller falls back).
    """
    import clarabel

    started = time.perf_counter()
    solution, method = _solve(clarabel, qp, refine=False)
    iterations, refined = int(solution.iterations), str(solution.status) != "Solved"
    if refined:
        solution, method = _solve(clarabel, qp, refine=True)
        iterations += int(solution.iterations)
    seconds = time.perf_counter() - started
    name = str(solution.status)
    status = _STATUS.get(name, f"solver_error ({name})")
    ok = status in OPTIMAL and solution.x is not None and len(solution.x) == 2 * qp.n
    weights = np.asarray(solution.x, dtype=float)[:qp.n] if ok else None
    return QPSolution(weights=weights, status=status, seconds=seconds, iterations=iterations,
                      linear_solver=method, refined=refined)
