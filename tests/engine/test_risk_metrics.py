"""engine.risk against hand-computed cases (the arithmetic is written out) and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine import risk
from engine.errors import InvalidRequest
from engine.risk import METRIC_NAMES, compute_metrics, metrics_matrix

# r: five monthly returns (P = 12); b: a benchmark on the same dates.
R5 = [0.10, -0.05, 0.02, -0.03, 0.04]
B5 = [0.05, -0.02, 0.01, -0.01, 0.02]
P = 12
# mean(r) = 0.08 / 5 = 0.016; deviations 0.084, -0.066, 0.004, -0.046, 0.024
# squares 0.007056 + 0.004356 + 0.000016 + 0.002116 + 0.000576 = 0.01412; var = 0.01412 / 4
VAR5 = 0.01412 / 4
# wealth W = 1.1, 1.045, 1.0659, 1.033923, 1.07527992
W5 = [1.1, 1.1 * 0.95, 1.1 * 0.95 * 1.02, 1.1 * 0.95 * 1.02 * 0.97, 1.1 * 0.95 * 1.02 * 0.97 * 1.04]


def test_hand_case_every_metric_without_benchmark():
    m = compute_metrics(R5, periods_per_year=P)
    assert m.volatility == pytest.approx(math.sqrt(VAR5) * math.sqrt(12), rel=1e-12)  # 0.2058155...
    assert m.expected_annual_return == pytest.approx(0.016 * 12, rel=1e-12)  # 0.192
    assert W5[-1] == pytest.approx(1.07527992, rel=1e-12)
    assert m.cagr == pytest.approx(1.07527992 ** (12 / 5) - 1, rel=1e-12)
    assert m.sharpe == pytest.approx(0.016 / math.sqrt(VAR5) * math.sqrt(12), rel=1e-12)
    # downside: min(r, 0) = 0, -0.05, 0, -0.03, 0 -> mean of squares (0.0025 + 0.0009) / 5 = 0.00068
    assert m.sortino == pytest.approx(0.016 / math.sqrt(0.00068) * math.sqrt(12), rel=1e-12)
    # the peak 1.1 (after month 1) to the trough 1.033923 (after month 4)
    assert m.max_drawdown == pytest.approx(1 - 1.033923 / 1.1, rel=1e-12)  # 0.06007
    # sorted r = -0.05, -0.03, 0.02, 0.04, 0.10; q = 0.05 * 4 = 0.2 -> -0.05 + 0.2 * 0.02 = -0.046
    assert m.var_95 == pytest.approx(0.046, rel=1e-12)
    # k = 0.05 * 5 = 0.25 < 1: only a fraction of the worst return -> -(0.25 * -0.05) / 0.25 = 0.05
    assert m.cvar_95 == pytest.approx(0.05, rel=1e-12)
    assert m.tracking_error is None and m.information_ratio is None and m.beta is None


def test_hand_case_relative_metrics():
    m = compute_metrics(R5, B5, periods_per_year=P)
    # active a = r - b = 0.05, -0.03, 0.01, -0.02, 0.02; mean 0.006
    # deviations 0.044, -0.036, 0.004, -0.026, 0.014; squares sum 0.00412; var 0.00103
    assert m.tracking_error == pytest.approx(math.sqrt(0.00103 * 12), rel=1e-12)
    assert m.information_ratio == pytest.approx(0.006 / math.sqrt(0.00103) * math.sqrt(12), rel=1e-12)
    # b deviations 0.04, -0.03, 0, -0.02, 0.01 (mean 0.01); sum of r_dev * b_dev
    # 0.00336 + 0.00198 + 0 + 0.00092 + 0.00024 = 0.0065; sum b_dev^2 = 0.003 -> beta = 13/6
    assert m.beta == pytest.approx(0.0065 / 0.003, rel=1e-12)


def test_risk_free_rate_is_compounded_per_period():
    rf = 0.05
    rf_p = 1.05 ** (1 / 12) - 1  # 0.0040741...
    m = compute_metrics(R5, risk_free_rate=rf, periods_per_year=P)
    assert risk.periodic_rate(rf, 12) == pytest.approx(rf_p, rel=1e-15)
    # std(r - rf_p) = std(r): the shift does not change the deviations
    assert m.sharpe == pytest.approx((0.016 - rf_p) / math.sqrt(VAR5) * math.sqrt(12), rel=1e-12)
    # below rf_p: -0.05 and -0.03 only (0.02 > rf_p)
    dd = math.sqrt(((0.05 + rf_p) ** 2 + (0.03 + rf_p) ** 2) / 5)
    assert m.sortino == pytest.approx((0.016 - rf_p) / dd * math.sqrt(12), rel=1e-12)
    # rf does not touch the other metrics
    assert m.volatility == compute_metrics(R5, periods_per_year=P).volatility


def test_cvar_takes_a_fraction_of_the_next_worst_return():
    r = [(i - 10) / 1000 for i in range(30)]  # -0.010, -0.009, ..., 0.019 (T = 30)
    # VaR: q = 0.05 * 29 = 1.45 -> x1 + 0.45 (x2 - x1) = -0.009 + 0.45 * 0.001 = -0.00855
    assert risk.var_95(r) == pytest.approx(0.00855, rel=1e-12)
    # CVaR: k = 1.5 -> -(x0 + 0.5 x1) / 1.5 = (0.010 + 0.0045) / 1.5
    assert risk.cvar_95(r) == pytest.approx(0.0145 / 1.5, rel=1e-12)
    # order of the returns does not matter
    assert risk.cvar_95(r[::-1]) == pytest.approx(0.0145 / 1.5, rel=1e-12)


def test_cvar_with_whole_tail_is_plain_mean_of_worst():
    r = [-0.04, -0.02] + [0.01] * 38  # T = 40, k = 2 exactly
    assert risk.cvar_95(r) == pytest.approx(0.03, rel=1e-12)
    # VaR: q = 0.05 * 39 = 1.95 -> -0.02 + 0.95 * (0.01 + 0.02) = 0.0085 -> var = -0.0085 (a gain)
    assert risk.var_95(r) == pytest.approx(-0.0085, rel=1e-12)


def test_named_functions_match_compute_metrics():
    m = compute_metrics(R5, B5, risk_free_rate=0.03, periods_per_year=P)
    assert risk.volatility(R5, P) == m.volatility
    assert risk.expected_annual_return(R5, P) == m.expected_annual_return
    assert risk.cagr(R5, P) == m.cagr
    assert risk.sharpe(R5, 0.03, P) == m.sharpe
    assert risk.sortino(R5, 0.03, P) == m.sortino
    assert risk.max_drawdown(R5) == m.max_drawdown
    assert risk.var_95(R5) == m.var_95
    assert risk.cvar_95(R5) == m.cvar_95
    assert risk.tracking_error(R5, B5, P) == m.tracking_error
    assert risk.information_ratio(R5, B5, P) == m.information_ratio
    assert risk.beta(R5, B5) == m.beta


def test_series_hand_values():
    assert risk.cumulative_returns(R5) == pytest.approx([w - 1 for w in W5], rel=1e-12)
    peak = [1.1, 1.1, 1.1, 1.1, 1.1]
    assert risk.drawdown_series(R5) == pytest.approx([1 - w / p for w, p in zip(W5, peak, strict=True)],
                                                     abs=1e-15)
    # the start W_0 = 1 is a peak: a first-period loss is a drawdown
    assert risk.drawdown_series([-0.1, 0.05]) == pytest.approx([0.1, 1 - 0.945], rel=1e-12)
    assert risk.max_drawdown([-0.1, 0.05]) == pytest.approx(0.1, rel=1e-12)


def test_risk_contributions_hand_case():
    w = [0.6, 0.4]
    cov = np.array([[0.04, 0.006], [0.006, 0.01]])
    # Σw = (0.024 + 0.0024, 0.0036 + 0.004) = (0.0264, 0.0076); w'Σw = 0.01584 + 0.00304 = 0.01888
    sigma = math.sqrt(0.01888)
    c = risk.risk_contributions(w, cov)
    assert c == pytest.approx([0.01584 / sigma, 0.00304 / sigma], rel=1e-12)
    assert c.sum() == pytest.approx(sigma, rel=1e-12)
    assert risk.risk_contributions([0.5, 0.5], np.zeros((2, 2))).tolist() == [0.0, 0.0]


def test_correlation_hand_case_and_flat_column():
    R = np.array([[0.01, 0.03, 0.02, 0.01], [0.02, 0.02, 0.02, 0.03], [0.03, 0.01, 0.02, 0.02]])
    c = risk.correlation(R)
    assert c[0][1] == pytest.approx(-1.0) and c[0][0] == 1.0
    # columns 0 and 3: x dev -0.01, 0, 0.01; y dev -0.01, 0.01, 0 -> 0.0001 / (0.01414 * 0.01414) = 0.5
    assert c[0][3] == pytest.approx(0.5, rel=1e-12) and c[3][0] == c[0][3]
    assert [row[2] for row in c] == [None] * 4 and c[2] == [None] * 4
    assert risk.correlation(R[:1]) == [[None] * 4 for _ in range(4)]


def test_undefined_cases_are_none():
    empty = compute_metrics([])
    one = compute_metrics([0.01], [0.02])
    assert all(getattr(empty, f) is None for f in METRIC_NAMES)
    assert all(getattr(one, f) is None for f in METRIC_NAMES)
    flat = compute_metrics([0.01] * 10, [0.01, 0.02] * 5, periods_per_year=P)
    assert flat.volatility == 0.0 and flat.sharpe is None and flat.sortino is None
    assert flat.beta == pytest.approx(0.0, abs=1e-15) and flat.information_ratio is not None
    assert compute_metrics([0.01, 0.02] * 5, [0.03] * 10).beta is None  # constant benchmark
    same = compute_metrics(R5, R5)
    assert same.tracking_error == 0.0 and same.information_ratio is None and same.beta == pytest.approx(1.0)
    assert compute_metrics([0.01, 0.03, 0.02]).sortino is None  # nothing below rf_p = 0


def test_rounding_noise_is_not_a_tracking_error():
    rng = np.random.default_rng(3)
    R = rng.normal(0.0, 0.01, size=(250, 3))
    w = np.array([0.2, 0.3, 0.5])
    w_noisy = w + np.array([1e-17, -1e-17, 0.0])
    m = compute_metrics(R @ w, R @ w_noisy + 1e-19)
    assert m.tracking_error == 0.0 and m.information_ratio is None


def test_extremes_never_give_nan_or_inf():
    boom = compute_metrics([100.0, 100.0])  # 101 ** 2 ** (252 / 2) overflows
    assert boom.cagr is None and boom.volatility == 0.0
    ruin = compute_metrics([0.1, -1.0, 0.5])  # wealth reaches 0
    assert ruin.cagr == -1.0 and ruin.max_drawdown == 1.0
    for m in (boom, ruin):
        assert all(v is None or math.isfinite(v) for v in m.model_dump().values())


def test_bad_inputs_raise_invalid_request():
    with pytest.raises(InvalidRequest) as err:
        compute_metrics([0.01, float("nan"), 0.02])
    assert err.value.details[0]["loc"] == ["returns", 1]
    with pytest.raises(InvalidRequest) as err:
        compute_metrics([0.01, 0.02], [0.01])
    assert err.value.details[0]["loc"] == ["benchmark_returns"]
    with pytest.raises(InvalidRequest):
        compute_metrics(np.zeros((3, 2)))


def test_metrics_matrix_shapes_and_nan_for_undefined():
    out = metrics_matrix(np.array([[0.01, 0.02], [0.02, 0.02], [-0.01, 0.02]]))
    assert list(out) == list(METRIC_NAMES)
    assert all(v.shape == (2,) for v in out.values())
    assert np.isnan(out["sharpe"][1]) and out["volatility"][1] == 0.0
    assert np.isnan(out["beta"]).all()
    assert all(np.isnan(v).all() for v in metrics_matrix(np.zeros((1, 3))).values())


returns_matrix = st.integers(2, 80).flatmap(
    lambda t: st.integers(1, 4).flatmap(
        lambda n: arrays(np.float64, (t, n), elements=st.floats(-0.5, 0.5, allow_subnormal=False))))


@settings(max_examples=60, deadline=None)
@given(R=returns_matrix, rf=st.floats(-0.02, 0.1))
def test_matrix_matches_compute_metrics_column_by_column(R, rf):
    b = R.mean(axis=1)
    out = metrics_matrix(R, b, risk_free_rate=rf, periods_per_year=52)
    for j in range(R.shape[1]):
        m = compute_metrics(R[:, j], b, risk_free_rate=rf, periods_per_year=52)
        for name in METRIC_NAMES:
            expected = getattr(m, name)
            got = out[name][j]
            if expected is None:
                assert np.isnan(got), name
            else:
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), name


@settings(max_examples=80, deadline=None)
@given(R=returns_matrix)
def test_invariants(R):
    out = metrics_matrix(R, periods_per_year=252)
    assert (out["volatility"] >= 0).all()
    assert ((out["max_drawdown"] >= 0) & (out["max_drawdown"] <= 1)).all()
    assert (out["cvar_95"] >= out["var_95"] - 1e-12).all()
    # every metric is finite or NaN, never infinite
    assert not any(np.isinf(v).any() for v in out.values())
    dd = risk.drawdown_series(R)
    assert dd.max(axis=0) == pytest.approx(out["max_drawdown"], abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(R=returns_matrix, raw=arrays(np.float64, 4, elements=st.floats(0.0, 1.0)))
def test_contributions_sum_to_portfolio_volatility(R, raw):
    n = R.shape[1]
    w = raw[:n] / raw[:n].sum() if raw[:n].sum() > 0 else np.full(n, 1 / n)
    cov = np.cov(R, rowvar=False, ddof=1).reshape(n, n) * 252
    contrib = risk.risk_contributions(w, cov)
    vol = risk.volatility(R @ w, 252)
    assert contrib.sum() == pytest.approx(vol, rel=1e-7, abs=1e-9)


def test_matrix_benchmark_per_column():
    rng = np.random.default_rng(5)
    R, Bm = rng.normal(0, 0.01, (60, 3)), rng.normal(0, 0.01, (60, 3))
    out = metrics_matrix(R, Bm, periods_per_year=12)
    for j in range(3):
        m = compute_metrics(R[:, j], Bm[:, j], periods_per_year=12)
        assert out["beta"][j] == pytest.approx(m.beta, rel=1e-12)
        assert out["information_ratio"][j] == pytest.approx(m.information_ratio, rel=1e-12)
    with pytest.raises(InvalidRequest):
        metrics_matrix(R, Bm[:, :2])
    # a column-major input (as DataFrame.to_numpy() gives) yields the same numbers
    F = np.asfortranarray(R)
    for name, v in metrics_matrix(F, Bm[:, 0]).items():
        assert v == pytest.approx(metrics_matrix(R, Bm[:, 0])[name], rel=1e-12, nan_ok=True), name


def test_a_flat_series_has_no_negative_zero_loss() -> None:
    # -quantile of zeros is -0.0, which JSON shows as "-0.0": a loss of zero is 0.0.
    from engine.risk import compute_metrics

    m = compute_metrics([0.0, 0.0, 0.0])
    assert math.copysign(1.0, m.var_95) == 1.0 and math.copysign(1.0, m.cvar_95) == 1.0
