"""The forecast ensemble: hand-computed signals, no look-ahead, vectorisation, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.errors import DataError, InsufficientData
from engine.forecast import ensemble, forecast, model_params, params_hash, point_in_time_covariance
from engine.governance.registry import params_hash as registry_hash
from engine.returns_frame import ReturnsFrame
from engine.schemas.ai import ForecastSettings

HAND = ForecastSettings(short_window=2, long_window=4, half_life=1.0, horizon=3, reversion_strength=0.5,
                        periods_per_year=252)


def _frame(values: np.ndarray, start: str = "2020-01-01") -> pd.DataFrame:
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    return pd.DataFrame(values, index=pd.bdate_range(start, periods=len(values)),
                        columns=[f"A{j}" for j in range(values.shape[1])])


def test_signals_match_a_hand_computation() -> None:
    x = [0.01, 0.03, -0.01, 0.02]
    m_long, m_short = 0.0125, 0.005
    sigma = math.sqrt((0.0025**2 + 0.0175**2 + 0.0225**2 + 0.0075**2) / 3)
    a = [1 / 8, 1 / 4, 1 / 2, 1.0]  # half-life 1: each step back halves the weight
    ewma = sum(ai * xi for ai, xi in zip(a, x, strict=True)) / sum(a)
    reversion = m_long - 0.5 * (m_short - m_long)
    se = [sigma / math.sqrt(2), sigma * math.sqrt(0.75 / 4 + 0.25 / 2),
          sigma * math.sqrt(sum(ai**2 for ai in a)) / sum(a)]
    sig = [m_short, reversion, ewma]
    conf = [max(0.0, 1 - (s / m) ** 2) for s, m in zip(se, sig, strict=True)]
    assert conf[0] == 0.0 and conf[1] == pytest.approx(1 - (0.875e-3 / 3 * 0.3125) / 0.01625**2, rel=1e-9)
    mean = sum(c * m for c, m in zip(conf, sig, strict=True)) / sum(conf)
    confidence = sum(c * c for c in conf) / sum(conf)  # all signals positive: agreement 1

    res = forecast(_frame(x), settings=HAND)
    asset = res.assets[0]
    assert [s.expected_return for s in asset.signals] == pytest.approx([m * 252 for m in sig], rel=1e-12)
    assert [s.confidence for s in asset.signals] == pytest.approx(conf, rel=1e-12)
    assert asset.expected_return == pytest.approx(mean * 252, rel=1e-12)
    assert asset.horizon_return == pytest.approx((1 + mean) ** 3 - 1, rel=1e-12)
    assert asset.confidence == pytest.approx(confidence, rel=1e-12)
    assert sum(s.contribution for s in asset.signals) == pytest.approx(asset.expected_return, rel=1e-12)
    assert sum(s.weight for s in asset.signals) == pytest.approx(1.0)


def test_disagreeing_signals_lower_the_confidence() -> None:
    # A long rise then a sharp short fall: momentum negative, mean reversion positive.
    x = np.r_[np.full(20, 0.01) + np.tile([0.001, -0.001], 10), -0.03 + np.tile([0.001, -0.001], 2)]
    s = ForecastSettings(short_window=4, long_window=24, half_life=12, horizon=1, reversion_strength=1.0,
                         periods_per_year=12)
    out = ensemble(x[:, None], s)
    signs = np.sign(out["signals"][:, 0])
    assert signs[0] == -1 and signs[1] == 1
    weighted = (out["weights"][:, 0] * out["confidences"][:, 0]).sum()
    assert out["confidence"][0] < weighted


def test_constant_returns_are_certain_and_zero_returns_are_not() -> None:
    res = forecast(_frame(np.c_[np.full(30, 0.001), np.zeros(30)]), settings=HAND)
    trend, flat = res.assets
    assert trend.confidence == 1.0 and trend.expected_return == pytest.approx(0.252)
    assert flat.confidence == 0.0 and flat.expected_return == 0.0


def test_vectorised_over_assets_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(7)
    frame = _frame(rng.normal(0.0005, 0.01, (300, 6)))
    s = ForecastSettings(short_window=10, long_window=120, half_life=30, horizon=5)
    together = forecast(frame, "2020-10-15", s).assets
    alone = [forecast(frame[[c]], "2020-10-15", s).assets[0] for c in frame.columns]
    assert together == alone


def test_missing_history_gives_zero_confidence_and_a_warning() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.001, 0.01, (40, 2))
    values[:-1, 1] = np.nan  # one observation only
    res = forecast(_frame(values), settings=HAND)
    assert res.assets[1].confidence == 0.0 and res.assets[1].expected_return == 0.0
    assert res.assets[1].n_observations == 1
    assert any("A1" in w for w in res.warnings)


def test_as_of_cuts_history_and_infers_periods_from_the_past_only() -> None:
    monthly = pd.DataFrame({"X": np.linspace(-0.01, 0.02, 40)}, index=pd.date_range("2000-01-31", periods=40, freq="ME"))
    s = ForecastSettings(short_window=3, long_window=12, half_life=6, horizon=1)
    res = forecast(monthly, "2001-06-15", s)
    assert res.as_of.isoformat() == "2001-05-31" and res.periods_per_year == 12
    expected = forecast(monthly.loc[:"2001-05-31"], None, s)
    assert res == expected


def test_returns_frame_lends_its_periods_per_year() -> None:
    frame = _frame(np.random.default_rng(3).normal(0, 0.01, (30, 2)))
    s = ForecastSettings(short_window=3, long_window=12, half_life=6, horizon=1)
    res = forecast(ReturnsFrame(frame, periods_per_year=52, frequency="weekly"), settings=s)
    assert res.periods_per_year == 52 and res.settings.periods_per_year == 52
    assert res.params_hash == params_hash(s)  # P annualises for display only: not part of the model's identity


def test_errors_for_undated_duplicate_or_too_short_history() -> None:
    with pytest.raises(DataError):
        forecast(pd.DataFrame({"X": [0.01] * 10}), settings=HAND)
    dup = _frame(np.zeros(5))
    dup.index = dup.index[[0, 1, 2, 2, 3]]
    with pytest.raises(DataError):
        forecast(dup, settings=HAND)
    with pytest.raises(InsufficientData):
        forecast(_frame(np.zeros(10)), "2020-01-02", HAND)


def test_settings_validation_and_the_parameters_hash() -> None:
    with pytest.raises(ValidationError):
        ForecastSettings(short_window=20, long_window=20)
    with pytest.raises(ValidationError):
        ForecastSettings.model_validate({"horizon": "5"})
    assert params_hash(HAND) == registry_hash(model_params(HAND))
    assert params_hash(HAND) != params_hash(HAND.model_copy(update={"half_life": 2.0}))
    assert forecast(_frame(np.full(10, 0.01)), settings=HAND).params_hash == params_hash(HAND)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(8, 80),
    n_assets=st.integers(1, 4),
    cut=st.floats(0.1, 0.95),
    mode=st.sampled_from(["change", "delete", "append"]),
)
def test_no_look_ahead(seed: int, n_rows: int, n_assets: int, cut: float, mode: str) -> None:
    """A forecast at t is unchanged when any data after t is changed, deleted or added."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 0.02, (n_rows, n_assets))
    values[rng.random(values.shape) < 0.1] = np.nan
    frame = _frame(values)
    t_pos = max(3, int(cut * n_rows)) - 1
    t = frame.index[t_pos]
    s = ForecastSettings(short_window=3, long_window=10, half_life=4.0, horizon=2, reversion_strength=0.7)
    before = forecast(frame, t, s)
    after = frame.copy()
    if mode == "change":
        after.iloc[t_pos + 1:] = rng.normal(0.5, 1.0, after.iloc[t_pos + 1:].shape)
    elif mode == "delete":
        after = after.iloc[: t_pos + 1]
    else:
        extra = _frame(rng.normal(0, 1, (5, n_assets)), start=str((frame.index[-1] + pd.offsets.BDay()).date()))
        extra.columns = frame.columns
        after = pd.concat([after, extra])
    assert forecast(after, t, s) == before


def test_point_in_time_covariance() -> None:
    rng = np.random.default_rng(12)
    frame = _frame(rng.normal(0, 0.01, (60, 3)))
    s = ForecastSettings(short_window=5, long_window=20, half_life=5, horizon=5, periods_per_year=252)
    t = frame.index[39]
    cov = point_in_time_covariance(frame, t, s)
    assert cov == pytest.approx(np.cov(frame.iloc[20:40].to_numpy(), rowvar=False) * 252, rel=1e-12)
    changed = frame.copy()
    changed.iloc[40:] = 1.0
    assert np.array_equal(point_in_time_covariance(changed, t, s), cov)
    frame.iloc[25, 1] = np.nan
    assert np.linalg.eigvalsh(point_in_time_covariance(frame, t, s)).min() >= -1e-15
