"""Optimised targets: our formulation against the plain cvxpy + Clarabel one, same problem, same run.

Data: seeded, N assets with a 20-factor covariance plus specific risk (annualised), forecasts
with confidences in [0.1, 0.9], current weights drifted from Dirichlet strategic targets, and
class limits around the strategic class weights, so both formulations solve (no fallback).
Both sides are timed end to end as a caller sees them (build the cvxpy problem, canonicalise,
solve); the reference is :func:`engine.optimize.reference_problem` solved with Clarabel.
The suite fails (raises) unless both optimal objectives agree within 1e-6.
"""

from __future__ import annotations

import statistics

import numpy as np

from bench.harness import Row, median_time

OBJECTIVE_TOLERANCE = 1e-6
CLASSES = ("equity", "fixed_income", "commodity", "fx")


def make_inputs(n: int, seed: int = 5):
    from engine.optimize import OptimizeInputs

    rng = np.random.default_rng(seed)
    loadings = rng.normal(0, 0.04, (n, 20))
    covariance = loadings @ loadings.T + np.diag(rng.uniform(0.01, 0.09, n))
    mu = rng.normal(0.05, 0.10, n)
    strategic = rng.dirichlet(np.ones(n))
    current = strategic * rng.lognormal(0, 0.1, n)
    return OptimizeInputs(
        symbols=tuple(f"A{i:04d}" for i in range(n)), strategic=strategic, current=current / current.sum(),
        expected_returns=mu, confidence=rng.uniform(0.1, 0.9, n), covariance=covariance,
        classes=tuple(CLASSES[i % len(CLASSES)] for i in range(n)),
        signals={"momentum": 0.5 * mu, "mean_reversion": 0.2 * mu, "ewma": 0.3 * mu}, horizon_years=21 / 252,
    )


def make_settings(x) -> object:
    from engine.schemas.ai import OptimizeSettings

    labels = np.array(x.classes)
    eq = float(x.strategic[labels == "equity"].sum())
    return OptimizeSettings(risk_aversion=5.0, cost_bps=10.0, turnover_limit=0.25, max_deviation=0.05,
                            class_limits={"equity": {"min": max(0.0, eq - 0.01), "max": min(1.0, eq + 0.01)}})


def _reference(x, settings) -> tuple[float, np.ndarray]:
    from engine.optimize import reference_problem

    problem, w = reference_problem(x, settings)
    problem.solve(solver="CLARABEL")
    if problem.status != "optimal":
        raise RuntimeError(f"the reference problem did not solve: {problem.status}")
    return float(problem.value), np.asarray(w.value, dtype=float)


def _case(n: int, quick: bool) -> list[Row]:
    from engine.optimize import objective_value, optimize_targets

    x = make_inputs(n)
    st = make_settings(x)
    ours = optimize_targets(x, st)
    if ours.status != "optimised":
        raise RuntimeError(f"{n} assets: our optimiser fell back: {ours.reason}")
    ref_value, ref_w = _reference(x, st)
    gap = abs(ours.objective - ref_value)
    if gap > OBJECTIVE_TOLERANCE:
        raise AssertionError(f"{n} assets: objectives differ by {gap:.3g} (ours {ours.objective:.10f}, "
                             f"reference {ref_value:.10f}); the limit is {OBJECTIVE_TOLERANCE:g}")
    w = np.array([ours.weights[s] for s in x.symbols])
    reps = (3 if n > 100 else 5) if quick else (15 if n > 100 else 30)
    solves: list[float] = []  # problem.solve's share (cvxpy canonicalisation + Clarabel) of each run
    t_ours, k = median_time(lambda: solves.append(optimize_targets(x, st).solve_seconds), repeats=reps)
    t_ref, m = median_time(lambda: _reference(x, st), repeats=reps)
    note = (f"objective gap {gap:.1e} (ours {ours.objective:.8f}, reference {ref_value:.8f}); "
            f"max |Δw| {np.abs(w - ref_w).max():.1e}; numpy objective at the reference weights "
            f"{objective_value(ref_w, x, st):.8f}")
    target = "≤ 0.3 s" if n == 500 else ""
    return [
        Row("optimize", f"optimised targets, {n} assets (ours; of which solve {statistics.median(solves) * 1e3:.0f} ms)",
            t_ours, k, target=target, met=t_ours <= 0.3 if target else None, extra={"objective_gap": gap}),
        Row("optimize", f"same problem, plain cvxpy + Clarabel, {n} assets", t_ref, m, baseline="ours",
            ratio=t_ref / t_ours, target=f"same objective ±{OBJECTIVE_TOLERANCE:g} (gap {gap:.1e})",
            met=gap <= OBJECTIVE_TOLERANCE, note=note),
    ]


def run(quick: bool) -> list[Row]:
    return [*_case(500, quick), *_case(50, quick)]
