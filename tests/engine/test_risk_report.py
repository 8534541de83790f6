"""engine.risk_report on hand-built ReturnsFrames, plus one run through service.analyse_risk."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from engine import service
from engine.errors import DataError, InvalidRequest
from engine.returns_frame import ReturnsFrame
from engine.risk import compute_metrics, periodic_rate
from engine.risk_report import current_weights, risk_report
from engine.schemas import Holding, Portfolio, RiskSettings

A = [0.02, -0.01, 0.03, 0.01]
B = [0.01, 0.00, -0.01, 0.02]
DATES = pd.DatetimeIndex(["2024-01-31", "2024-02-29", "2024-03-28", "2024-04-30"])
# values 600 + 300 + cash 100 = 1000 -> weights 0.6, 0.3, CASH 0.1; targets 0.5 / 0.5
BEFORE = [0.6 * a + 0.3 * b for a, b in zip(A, B, strict=True)]  # 0.015, -0.006, 0.015, 0.012
TARGETS = [0.5 * a + 0.5 * b for a, b in zip(A, B, strict=True)]  # 0.015, -0.005, 0.010, 0.015


def _portfolio(cash: float = 100.0, extra: list[Holding] | None = None) -> Portfolio:
    return Portfolio(cash=cash, holdings=[
        Holding(symbol="A", asset_class="stock", quantity=60, price=10.0, target_weight=0.5),
        Holding(symbol="B", asset_class="etf", quantity=30, price=10.0, target_weight=0.5),
        *(extra or []),
    ])


def _frame(columns: dict[str, list[float]] | None = None, index=DATES, **kw) -> ReturnsFrame:
    data = pd.DataFrame(columns or {"A": A, "B": B}, index=index)
    return ReturnsFrame(returns=data, periods_per_year=12, frequency="monthly", **kw)


def _same(metrics, expected):
    for name, value in expected.model_dump().items():
        got = getattr(metrics, name)
        assert (got is None) == (value is None), name
        if value is not None:
            assert got == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_before_side_by_hand():
    report = risk_report(_portfolio(), _frame(), RiskSettings(benchmark=None))
    side = report.before
    assert side.weights == pytest.approx({"A": 0.6, "B": 0.3, "CASH": 0.1})
    assert np.allclose(BEFORE, [0.015, -0.006, 0.015, 0.012], rtol=0, atol=1e-15)
    _same(side.metrics, compute_metrics(BEFORE, periods_per_year=12))
    assert side.metrics.expected_annual_return == pytest.approx(0.036 / 4 * 12, rel=1e-12)  # 0.108
    assert side.metrics.max_drawdown == pytest.approx(0.006, rel=1e-12)
    assert side.metrics.tracking_error is None and side.metrics.beta is None
    # W = 1.015, 1.015 * 0.994, … ; the only drawdown is month 2's 0.6 %
    w = np.cumprod(1 + np.array(BEFORE))
    assert side.cumulative_return.values == pytest.approx((w - 1).tolist(), rel=1e-12)
    assert side.drawdown.values == pytest.approx([0.0, 0.006, 0.0, 0.0], abs=1e-12)
    assert side.cumulative_return.dates == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 28),
                                            dt.date(2024, 4, 30)]
    assert report.after is None and report.benchmark is None
    assert report.window.model_dump() == {"start": dt.date(2024, 1, 31), "end": dt.date(2024, 4, 30),
                                          "n_periods": 4, "frequency": "monthly", "periods_per_year": 12}


def test_correlation_by_hand():
    corr = risk_report(_portfolio(), _frame(), RiskSettings()).correlation
    # A dev 0.0075, -0.0225, 0.0175, -0.0025; B dev 0.005, -0.005, -0.015, 0.015
    # sum of products -0.00015; sums of squares 0.000875 and 0.0005
    assert corr.symbols == ["A", "B"]
    assert corr.matrix[0][1] == pytest.approx(-0.00015 / math.sqrt(0.000875 * 0.0005), rel=1e-12)
    assert corr.matrix[0][0] == corr.matrix[1][1] == 1.0


def test_contributions_are_euler_and_sum_to_volatility():
    side = risk_report(_portfolio(), _frame(), RiskSettings()).before
    cov = np.cov(np.array([A, B]), ddof=1) * 12
    w = np.array([0.6, 0.3])
    sigma = math.sqrt(w @ cov @ w)
    by = {c.symbol: c for c in side.contributions}
    assert list(by) == ["A", "B", "CASH"]
    assert by["A"].contribution == pytest.approx(0.6 * (cov @ w)[0] / sigma, rel=1e-12)
    assert by["B"].contribution == pytest.approx(0.3 * (cov @ w)[1] / sigma, rel=1e-12)
    assert by["CASH"].contribution == 0.0 and by["CASH"].weight == pytest.approx(0.1)
    assert sum(c.contribution for c in side.contributions) == pytest.approx(side.metrics.volatility, rel=1e-12)
    assert sum(c.contribution_pct for c in side.contributions) == pytest.approx(1.0, rel=1e-12)


def test_after_side_and_targets_benchmark():
    report = risk_report(_portfolio(), _frame(), RiskSettings(benchmark="targets"), {"A": 0.5, "B": 0.5})
    assert report.benchmark == "targets"
    _same(report.before.metrics, compute_metrics(BEFORE, TARGETS, periods_per_year=12))
    # after = the targets themselves: no tracking error, beta 1, information ratio undefined
    after = report.after
    assert after.weights == {"A": 0.5, "B": 0.5, "CASH": 0.0}
    assert after.metrics.tracking_error == 0.0 and after.metrics.information_ratio is None
    assert after.metrics.beta == pytest.approx(1.0, rel=1e-12)
    _same(after.metrics, compute_metrics(TARGETS, TARGETS, periods_per_year=12))
    assert after.drawdown.dates == report.before.drawdown.dates


def test_cash_rate_and_risk_free_rate():
    settings = RiskSettings(benchmark=None, cash_rate=0.12, risk_free_rate=0.03)
    report = risk_report(_portfolio(), _frame(), settings, {"A": 0.2, "CASH": 0.8})
    c = 1.12 ** (1 / 12) - 1  # the cash rate per month
    expected = [r + 0.1 * c for r in BEFORE]
    _same(report.before.metrics, compute_metrics(expected, risk_free_rate=0.03, periods_per_year=12))
    _same(report.after.metrics, compute_metrics([0.2 * a + 0.8 * c for a in A], risk_free_rate=0.03,
                                                periods_per_year=12))


def test_uncovered_and_cash_holdings_earn_the_cash_rate():
    usd = Holding(symbol="USD_CASH", asset_class="cash", quantity=100, price=1.0, target_weight=0.0)
    frame = _frame({"A": A, "B": [0.0] * 4, "USD_CASH": [0.0] * 4}, uncovered=["B"],
                   warnings=["B: no price history; treated as cash"])
    report = risk_report(_portfolio(cash=0.0, extra=[usd]), frame, RiskSettings(benchmark=None, cash_rate=0.12))
    c = periodic_rate(0.12, 12)
    _same(report.before.metrics, compute_metrics([0.6 * a + 0.4 * c for a in A], periods_per_year=12))
    assert report.uncovered == ["B"]
    assert report.warnings[0] == "B: no price history; treated as cash"
    assert any("treated as cash in the risk figures" in w for w in report.warnings)
    assert report.correlation.matrix[0][1] is None  # B's column is constant


def test_holding_named_cash_is_cash():
    named = Holding(symbol="Cash", asset_class="cash", quantity=100, price=1.0, target_weight=0.0)
    report = risk_report(_portfolio(cash=0.0, extra=[named]), _frame(), RiskSettings(benchmark=None),
                         {"A": 0.5, "B": 0.4, "CASH": 0.1})
    assert report.before.weights == pytest.approx({"A": 0.6, "B": 0.3, "CASH": 0.1})
    assert [c.symbol for c in report.after.contributions] == ["A", "B", "CASH"]
    assert any("counted as cash" in w for w in report.warnings)


def test_bad_post_trade_weights_are_rejected_with_locations():
    with pytest.raises(InvalidRequest) as err:
        risk_report(_portfolio(), _frame(), RiskSettings(), {"A": 0.5, "ZZZ": 0.5})
    assert err.value.details[0]["loc"] == ["post_trade_weights", "ZZZ"]
    with pytest.raises(InvalidRequest) as err:
        risk_report(_portfolio(), _frame(), RiskSettings(), {"A": 0.5, "B": 0.2})
    assert err.value.details[0]["loc"] == ["post_trade_weights"]
    assert "sum to 0.700000" in err.value.details[0]["msg"]


def test_portfolio_without_value_and_frames_without_data():
    empty = Portfolio(cash=0.0, holdings=[Holding(symbol="A", asset_class="stock", quantity=0, price=1.0,
                                                  target_weight=1.0)])
    with pytest.raises(InvalidRequest):
        current_weights(empty)
    with pytest.raises(DataError, match="no column for B"):
        risk_report(_portfolio(), _frame({"A": A}), RiskSettings())
    with pytest.raises(DataError, match="NaN"):
        risk_report(_portfolio(), _frame({"A": A, "B": [0.0, math.nan, 0.0, 0.0]}), RiskSettings())


def test_undated_and_too_short_histories():
    undated = risk_report(_portfolio(), _frame(index=pd.RangeIndex(4)), RiskSettings(benchmark=None))
    assert undated.before.cumulative_return.dates is None
    assert undated.window.start is None and undated.window.n_periods == 4
    _same(undated.before.metrics, compute_metrics(BEFORE, periods_per_year=12))
    short = risk_report(_portfolio(), _frame({"A": A[:1], "B": B[:1]}, index=DATES[:1]), RiskSettings())
    assert all(v is None for v in short.before.metrics.model_dump().values())
    assert short.correlation.matrix == [[None, None], [None, None]]
    assert any("at least 2" in w for w in short.warnings)


def test_bundled_benchmark_and_an_unusable_one():
    from engine.market_data import series_returns_like

    frame = _frame()
    report = risk_report(_portfolio(), frame, RiskSettings(benchmark="SPY"))
    spy = series_returns_like("SPY", frame).to_numpy()
    _same(report.before.metrics, compute_metrics(BEFORE, spy, periods_per_year=12))
    assert report.before.metrics.beta is not None
    # an undated history cannot be matched to SPY's dates: a warning, not a failure
    undated = risk_report(_portfolio(), _frame(index=pd.RangeIndex(4)), RiskSettings(benchmark="SPY"))
    assert undated.before.metrics.beta is None
    assert any(w.startswith("benchmark 'SPY' not used") for w in undated.warnings)


def test_service_analyse_risk_on_a_sample_portfolio():
    """End to end: bundled 60/40 sample, market data, benchmark SPY, post-trade weights."""
    from engine.market_data import portfolio_returns

    portfolio = service.sample_portfolio("P1_CLASSIC_60_40")
    report = service.analyse_risk({"portfolio": portfolio.model_dump(mode="json"),
                                   "settings": {"benchmark": "SPY", "risk_free_rate": 0.02},
                                   "post_trade_weights": {"SPY": 0.6, "AGG": 0.4}})
    frame = portfolio_returns(portfolio)
    weights = current_weights(portfolio)
    r = frame.returns["SPY"].to_numpy() * weights["SPY"] + frame.returns["AGG"].to_numpy() * weights["AGG"]
    spy = frame.returns["SPY"].to_numpy()
    _same(report.before.metrics, compute_metrics(r, spy, risk_free_rate=0.02, periods_per_year=frame.periods_per_year))
    assert report.window.frequency == "daily" and report.window.periods_per_year == 252
    assert report.window.end == dt.date(2016, 9, 30)
    assert report.after.weights == {"SPY": 0.6, "AGG": 0.4, "CASH": 0.0}
    # a 60/40 mix is less volatile than SPY alone and has a beta well below 1
    assert report.after.metrics.volatility < compute_metrics(spy).volatility
    assert 0.5 < report.after.metrics.beta < 0.7
    assert report.correlation.symbols == ["SPY", "AGG"] and report.correlation.matrix[0][1] < 0


def test_large_portfolios_skip_n_by_n_matrices_without_changing_contributions() -> None:
    import numpy as np
    import pandas as pd

    from engine.returns_frame import ReturnsFrame
    from engine.risk import covariance, risk_contributions
    from engine.risk_report import CORRELATION_LIMIT, FULL_MATRIX_LIMIT, risk_report
    from engine.schemas import Holding, Portfolio, RiskSettings

    n = FULL_MATRIX_LIMIT + 50
    rng = np.random.default_rng(4)
    R = 0.0002 + rng.standard_normal((500, 1)) * 0.01 + rng.standard_normal((500, n)) * 0.01
    symbols = [f"S{i:03d}" for i in range(n)]
    qty = rng.integers(1, 100, n).astype(float)
    portfolio = Portfolio(cash=1_000.0, holdings=[
        Holding(symbol=s, asset_class="stock", quantity=float(qty[i]), price=10.0, target_weight=1.0 / n)
        for i, s in enumerate(symbols)])
    frame = ReturnsFrame(returns=pd.DataFrame(R, index=pd.bdate_range("2015-01-01", periods=500), columns=symbols),
                         periods_per_year=252, frequency="daily")
    report = risk_report(portfolio, frame, RiskSettings(benchmark=None))
    weights = np.array([report.before.weights[k] for k in [*symbols, "CASH"]])
    cov = np.zeros((n + 1, n + 1))
    cov[:n, :n] = covariance(R)[0] * 252
    expected = risk_contributions(weights, cov)
    got = np.array([c.contribution for c in report.before.contributions])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    assert got.sum() == pytest.approx(report.before.metrics.volatility, rel=1e-9)
    largest = sorted(np.argsort(-qty, kind="stable")[:CORRELATION_LIMIT])
    assert report.correlation.symbols == [symbols[i] for i in largest]
    assert len(report.correlation.matrix) == CORRELATION_LIMIT
    assert f"the correlation matrix shows the {CORRELATION_LIMIT} largest of {n} holdings" in report.warnings


@pytest.mark.parametrize("benchmark", ["SPY", "targets", None])
def test_risk_comparison_is_the_reports_figures(benchmark) -> None:
    """The rebalance response's risk summary equals the full report's metrics, window and warnings."""
    from engine.market_data import portfolio_returns
    from engine.risk_report import risk_comparison

    portfolio = service.sample_portfolio("P3_PRE_COVID_DIVERSIFIED")
    frame = portfolio_returns(portfolio)
    settings = RiskSettings(benchmark=benchmark, risk_free_rate=0.01)
    after = {h.symbol: h.target_weight for h in portfolio.holdings}
    after["CASH"] = 1.0 - sum(after.values())
    full = risk_report(portfolio, frame, settings, after)
    summary = risk_comparison(portfolio, frame, settings, after)
    assert summary.before == full.before.metrics and summary.after == full.after.metrics
    assert summary.window == full.window and summary.warnings == full.warnings
    assert summary.before.volatility is not None and summary.window.start < summary.window.end
