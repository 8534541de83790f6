"""engine.risk against independent references on bundled real data, with METRICS.md's mapping.

References: empyrical-reloaded, quantstats, skfolio. Data: daily adjusted closes of SPY, AGG
and four stocks, 2010-01-04 .. 2016-09-30 (resources/market/prices_daily.csv), turned into
simple returns on the dates all six traded. Benchmark: SPY.

Warnings: every reference is called bare. On this data none of them warns beyond what the
pyproject filter already ignores (empyrical's and quantstats' own Deprecation/FutureWarnings),
so a new warning from a reference fails the test instead of hiding a change of behaviour.
"""

from __future__ import annotations

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from skfolio import measures as sm

from engine import risk
from engine.resources import market_dir
from engine.risk import compute_metrics, metrics_matrix

SYMBOLS = ["SPY", "AGG", "AAPL", "JPM", "XOM", "MSFT"]
P = 252
RF = 0.02
RF_P = (1 + RF) ** (1 / P) - 1


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    prices = pd.read_csv(market_dir() / "prices_daily.csv", parse_dates=["date"])
    prices = prices[prices["symbol"].isin(SYMBOLS)]
    wide = prices.pivot(index="date", columns="symbol", values="close")[SYMBOLS]
    wide = wide.loc["2010-01-01":"2016-09-30"].dropna()
    r = wide.pct_change().iloc[1:]
    assert len(r) > 1500 and not r.isna().any().any()
    return r


@pytest.fixture(scope="module")
def ours(returns) -> dict[str, np.ndarray]:
    return metrics_matrix(returns.to_numpy(), returns["SPY"].to_numpy(), risk_free_rate=RF, periods_per_year=P)


def _each(returns):
    for j, sym in enumerate(SYMBOLS):
        yield j, sym, returns[sym]


def test_volatility(returns, ours):
    for j, _sym, r in _each(returns):
        assert ours["volatility"][j] == pytest.approx(ep.annual_volatility(r.to_numpy(), annualization=P), rel=1e-12)
        assert ours["volatility"][j] == pytest.approx(qs.stats.volatility(r, periods=P), rel=1e-12)
        assert ours["volatility"][j] == pytest.approx(sm.standard_deviation(r.to_numpy()) * np.sqrt(P), rel=1e-12)


def test_expected_annual_return_is_skfolio_mean_times_p(returns, ours):
    for j, _sym, r in _each(returns):
        assert ours["expected_annual_return"][j] == pytest.approx(sm.mean(r.to_numpy()) * P, rel=1e-12)


def test_cagr(returns, ours):
    for j, _sym, r in _each(returns):
        assert ours["cagr"][j] == pytest.approx(ep.annual_return(r.to_numpy(), annualization=P), rel=1e-10)
        assert ours["cagr"][j] == pytest.approx(qs.stats.cagr(r, periods=P), rel=1e-10)


def test_sharpe_with_risk_free_rate_is_quantstats(returns, ours):
    for j, _sym, r in _each(returns):
        assert ours["sharpe"][j] == pytest.approx(qs.stats.sharpe(r, rf=RF, periods=P), rel=1e-10)
        # empyrical takes the per-period rate directly; same number
        assert ours["sharpe"][j] == pytest.approx(
            ep.sharpe_ratio(r.to_numpy(), risk_free=RF_P, annualization=P), rel=1e-10)


def test_sharpe_without_risk_free_rate_is_empyrical(returns):
    X = returns.to_numpy()
    out = metrics_matrix(X, periods_per_year=P)
    assert out["sharpe"] == pytest.approx(ep.sharpe_ratio(X, annualization=P), rel=1e-10)
    assert out["sharpe"][0] == pytest.approx(qs.stats.sharpe(returns["SPY"], periods=P), rel=1e-10)


def test_sortino_is_empyrical_with_required_return(returns, ours):
    for j, _sym, r in _each(returns):
        expected = ep.sortino_ratio(r.to_numpy(), required_return=RF_P, annualization=P)
        assert ours["sortino"][j] == pytest.approx(expected, rel=1e-10)


def test_max_drawdown_is_minus_empyrical_and_counts_the_start(returns, ours):
    for j, _sym, r in _each(returns):
        assert ours["max_drawdown"][j] == pytest.approx(-ep.max_drawdown(r.to_numpy()), rel=1e-12)
        assert ours["max_drawdown"][j] == pytest.approx(-qs.stats.max_drawdown(r), rel=1e-10)
    # METRICS: W_0 = 1 is part of the running peak. A series that only falls from the start has
    # a drawdown equal to its total loss; empyrical agrees (it prepends the starting value).
    first_days = returns["XOM"].to_numpy()[:40]
    losing = -np.abs(first_days)
    expected = 1 - np.prod(1 + losing)
    assert risk.max_drawdown(losing) == pytest.approx(expected, rel=1e-12)
    assert risk.max_drawdown(losing) == pytest.approx(-ep.max_drawdown(losing), rel=1e-12)
    dated = pd.Series(losing, index=returns.index[:40])
    assert risk.max_drawdown(losing) == pytest.approx(-qs.stats.max_drawdown(dated), rel=1e-10)


def test_var_is_minus_empyrical_value_at_risk(returns, ours):
    for j, _sym, r in _each(returns):
        assert ours["var_95"][j] == pytest.approx(-ep.value_at_risk(r.to_numpy(), 0.05), rel=1e-12)
        assert ours["var_95"][j] == pytest.approx(-np.quantile(r.to_numpy(), 0.05), rel=1e-12)


def test_cvar_is_skfolio_cvar(returns, ours):
    X = returns.to_numpy()
    assert ours["cvar_95"] == pytest.approx(sm.cvar(X, beta=0.95), rel=1e-12)
    # and on lengths where 5 % of T is and is not a whole number
    for t in (20, 40, 99, 101, 1000):
        assert risk.cvar_95(X[:t, 2]) == pytest.approx(sm.cvar(X[:t, 2], beta=0.95), rel=1e-12)


def test_tracking_error_is_skfolio_std_of_active_returns(returns, ours):
    X, b = returns.to_numpy(), returns["SPY"].to_numpy()
    for j in range(len(SYMBOLS)):
        expected = sm.standard_deviation(X[:, j] - b) * np.sqrt(P)
        assert ours["tracking_error"][j] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert ours["tracking_error"][0] == 0.0  # SPY against itself


def test_information_ratio_is_empyrical_excess_sharpe(returns, ours):
    X, b = returns.to_numpy(), returns["SPY"].to_numpy()
    for j in range(1, len(SYMBOLS)):
        expected = ep.excess_sharpe(X[:, j], b) * np.sqrt(P)
        assert ours["information_ratio"][j] == pytest.approx(expected, rel=1e-10)
    assert np.isnan(ours["information_ratio"][0])  # zero tracking error: undefined, not inf


def test_beta_is_empyrical(returns, ours):
    b = returns["SPY"].to_numpy()
    for j, _sym, r in _each(returns):
        assert ours["beta"][j] == pytest.approx(ep.beta(r.to_numpy(), b), rel=1e-10)
    assert ours["beta"][0] == pytest.approx(1.0, rel=1e-12)


def test_pinned_values_for_spy_and_agg(returns):
    """Pinned so a silent change of convention shows up even if a reference changed too."""
    spy = compute_metrics(returns["SPY"], risk_free_rate=RF, periods_per_year=P)
    agg = compute_metrics(returns["AGG"], returns["SPY"], periods_per_year=P)
    assert spy.volatility == pytest.approx(0.1562564, abs=1e-7)
    assert spy.sharpe == pytest.approx(0.6959814, abs=1e-7)
    assert spy.max_drawdown == pytest.approx(0.1860547, abs=1e-7)
    assert spy.cvar_95 == pytest.approx(0.0237480, abs=1e-7)
    assert agg.beta == pytest.approx(-0.0645413, abs=1e-7)
    assert agg.var_95 == pytest.approx(0.0033548, abs=1e-7)
