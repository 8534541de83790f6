"""Risk metrics: our vectorised report against empyrical-reloaded, quantstats and skfolio.

Data: 50 assets × 20 years of daily returns (seeded Student-t, fat tailed) plus a benchmark.
Every library computes the same eleven METRICS.md figures for all 50 columns, called the way a
user of that library would (2-D where the library vectorises, a loop over columns where it
does not).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bench.harness import Row, median_time

T, N, P = 20 * 252, 50, 252


def make_data(seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    common = rng.standard_t(5, size=(T, 1)) * 0.008
    R = 0.0003 + 0.6 * common + rng.standard_t(5, size=(T, N)) * 0.01
    idx = pd.bdate_range("2004-01-01", periods=T)
    cols = [f"A{i:02d}" for i in range(N)]
    return pd.DataFrame(R, index=idx, columns=cols), pd.Series(0.0003 + common[:, 0], index=idx, name="BM")


def ours(R: pd.DataFrame, b: pd.Series):
    from engine.risk import metrics_matrix

    return metrics_matrix(R.to_numpy(), b.to_numpy(), risk_free_rate=0.02, periods_per_year=P)


def empyrical_all(R: pd.DataFrame, b: pd.Series):
    import empyrical as ep

    rf_p = (1.02) ** (1 / P) - 1
    X, bb = R.to_numpy(), b.to_numpy()
    out = {
        "volatility": ep.annual_volatility(X, annualization=P),
        "cagr": ep.annual_return(X, annualization=P),
        "sharpe": ep.sharpe_ratio(X, risk_free=rf_p, annualization=P),
        "sortino": ep.sortino_ratio(X, required_return=rf_p, annualization=P),
        "max_drawdown": ep.max_drawdown(X),
        "beta": ep.beta(X, bb),
        "information_ratio": ep.excess_sharpe(X, bb[:, None]) * np.sqrt(P),
    }
    out["var_95"] = np.array([ep.value_at_risk(X[:, j], 0.05) for j in range(N)])
    out["cvar_95"] = np.array([ep.conditional_value_at_risk(X[:, j], 0.05) for j in range(N)])
    out["expected_annual_return"] = X.mean(axis=0) * P
    out["tracking_error"] = (X - bb[:, None]).std(axis=0, ddof=1) * np.sqrt(P)
    return out


def quantstats_all(R: pd.DataFrame, b: pd.Series):
    import quantstats as qs

    out: dict[str, list[float]] = {}
    for col in R.columns:
        r = R[col]
        for name, value in (
            ("volatility", qs.stats.volatility(r, periods=P)),
            ("cagr", qs.stats.cagr(r, periods=P)),
            ("sharpe", qs.stats.sharpe(r, rf=0.02, periods=P)),
            ("sortino", qs.stats.sortino(r, rf=0.02, periods=P)),
            ("max_drawdown", qs.stats.max_drawdown(r)),
            ("var_95", qs.stats.value_at_risk(r)),
            ("cvar_95", qs.stats.cvar(r)),
            ("information_ratio", qs.stats.information_ratio(r, b)),
            ("beta", qs.stats.greeks(r, b, periods=P)["beta"]),
        ):
            out.setdefault(name, []).append(float(value))
    return out


def skfolio_all(R: pd.DataFrame, b: pd.Series):
    from skfolio import measures as sm

    X, bb = R.to_numpy(), b.to_numpy()
    out: dict[str, list[float]] = {}
    for j in range(N):
        x = X[:, j]
        for name, value in (
            ("volatility", sm.standard_deviation(x) * np.sqrt(P)),
            ("expected_annual_return", sm.mean(x) * P),
            ("max_drawdown", sm.max_drawdown(sm.get_drawdowns(x, compounded=True))),
            ("var_95", sm.value_at_risk(x, beta=0.95)),
            ("cvar_95", sm.cvar(x, beta=0.95)),
            ("tracking_error", sm.standard_deviation(x - bb) * np.sqrt(P)),
        ):
            out.setdefault(name, []).append(float(value))
    return out


def run(quick: bool) -> list[Row]:
    R, b = make_data()
    reps = 5 if quick else 30
    t_ours, n = median_time(lambda: ours(R, b), repeats=reps * 4)
    rows = [Row("risk", "11 metrics, 50 assets × 20 y daily (ours)", t_ours, n, target="≤ 10 ms",
                met=t_ours <= 0.010)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, fn, target, rule in (
            ("empyrical-reloaded", empyrical_all, "ours no slower", lambda r: r >= 1.0),
            ("quantstats", quantstats_all, "ours ≥ 5× faster", lambda r: r >= 5.0),
            ("skfolio (6 of 11 metrics)", skfolio_all, "", None),
        ):
            slow = "quant" in label  # ~3 s a call: once in the quick smoke run
            t, m = median_time(lambda fn=fn: fn(R, b), repeats=(1 if quick else 3) if slow else max(3, reps),
                               warmup=0 if quick and slow else 1)
            ratio = t / t_ours
            rows.append(Row("risk", f"same metrics via {label}", t, m, baseline="ours", ratio=ratio,
                            target=target, met=rule(ratio) if rule else None))
    rows.extend(_portfolio_report(quick))
    return rows


def _portfolio_report(quick: bool) -> list[Row]:
    """The risk panel's whole report (before and after, contributions, correlation, series)."""
    from engine.returns_frame import ReturnsFrame
    from engine.risk_report import risk_report
    from engine.schemas import Holding, Portfolio, RiskSettings

    R, _ = make_data(11)
    w = np.full(N, 1.0 / N)
    portfolio = Portfolio(holdings=[Holding(symbol=c, asset_class="stock", quantity=100.0, price=10.0,
                                            target_weight=float(w[i])) for i, c in enumerate(R.columns)])
    frame = ReturnsFrame(returns=R, periods_per_year=P, frequency="daily")
    after = {c: float(w[i]) for i, c in enumerate(R.columns)} | {"CASH": 0.0}
    t, n = median_time(lambda: risk_report(portfolio, frame, RiskSettings(), after), repeats=5 if quick else 20)
    return [Row("risk", "full risk report, 50-asset portfolio, before+after (ours)", t, n)]
