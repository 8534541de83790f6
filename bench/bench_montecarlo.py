"""Monte Carlo: 10,000 paths × 252 steps for a 50-asset portfolio, each method, against numpy's
raw normal-draw throughput for the same number of draws, and the peak memory of each run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.harness import Row, median_time, peak_traced_mb

PATHS, STEPS, N = 10_000, 252, 50


def make_case(seed: int = 5):
    from engine.returns_frame import ReturnsFrame
    from engine.schemas import Holding, Portfolio

    rng = np.random.default_rng(seed)
    T = 10 * 252
    common = rng.standard_t(5, size=(T, 1)) * 0.008
    R = 0.0003 + 0.6 * common + rng.standard_t(5, size=(T, N)) * 0.01
    cols = [f"A{i:02d}" for i in range(N)]
    frame = ReturnsFrame(returns=pd.DataFrame(R, index=pd.bdate_range("2010-01-01", periods=T), columns=cols),
                         periods_per_year=252, frequency="daily")
    portfolio = Portfolio(holdings=[Holding(symbol=c, asset_class="stock", quantity=100.0, price=10.0,
                                            target_weight=1.0 / N if i else 1.0 - (N - 1) / N)
                                    for i, c in enumerate(cols)])
    return portfolio, frame


def run(quick: bool) -> list[Row]:
    from engine.schemas import MonteCarloSettings
    from engine.stress import run_monte_carlo

    portfolio, frame = make_case()
    reps = 3 if quick else 15
    rng = np.random.default_rng(0)
    t_np, n_np = median_time(lambda: rng.standard_normal(PATHS * STEPS), repeats=reps * 2)
    rows = [Row("monte carlo", f"numpy standard_normal({PATHS * STEPS:,}) (reference)", t_np, n_np)]
    for method in ("gaussian", "bootstrap", "block_bootstrap"):
        s = MonteCarloSettings(method=method, paths=PATHS, horizon=STEPS, seed=1)
        t, n = median_time(lambda s=s: run_monte_carlo(portfolio, frame, s), repeats=reps)
        mem = peak_traced_mb(lambda s=s: run_monte_carlo(portfolio, frame, s))
        rows.append(Row("monte carlo", f"{method}, constant mix, {PATHS:,}×{STEPS} (ours)", t, n,
                        baseline="numpy draws", ratio=t_np / t, target="≤ 150 ms, < 500 MB",
                        met=t <= 0.150 and mem < 500, extra={"peak_mb": mem}, note=f"peak {mem:.0f} MB"))
    s = MonteCarloSettings(method="gaussian", paths=PATHS, horizon=STEPS, seed=1, mode="buy_and_hold")
    t, n = median_time(lambda: run_monte_carlo(portfolio, frame, s), repeats=1 if quick else 5, warmup=0 if quick else 1)
    mem = peak_traced_mb(lambda: run_monte_carlo(portfolio, frame, s))
    rows.append(Row("monte carlo", f"gaussian, buy and hold (50 assets simulated), {PATHS:,}×{STEPS} (ours)", t, n,
                    target="< 500 MB", met=mem < 500, extra={"peak_mb": mem}, note=f"peak {mem:.0f} MB"))
    return rows
