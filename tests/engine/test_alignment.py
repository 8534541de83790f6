"""Returns and alignment (METRICS.md "Alignment of mixed histories") on real bundled data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.alignment import (
    align_returns,
    frequency_of_periods,
    infer_frequency,
    period_labels,
    previous_label,
    price_returns,
    short_window_warning,
)
from engine.market_data import MarketData


@pytest.fixture(scope="module")
def market() -> MarketData:
    return MarketData.bundled()


def _aligned(market: MarketData, keys: list[str], *, end: str | None = None, target: str | None = None):
    returns, freqs, starts = {}, {}, {}
    for k in keys:
        p = market.prices(k)
        if end is not None:
            p = p[:end]
        returns[k], _ = price_returns(p)
        freqs[k], starts[k] = market.info(k).frequency, p.index[0]
    return align_returns(returns, frequencies=freqs, starts=starts, target=target)


def _price_on(prices: pd.Series, day) -> float:
    """Last price on or before ``day``."""
    return float(prices[: pd.Timestamp(day)].iloc[-1])


# --- price_returns -----------------------------------------------------------------------------
def test_price_returns_hand_case():
    s = pd.Series([100.0, 110.0, 99.0], index=pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]), name="X")
    r, w = price_returns(s)
    assert r.to_list() == pytest.approx([0.1, -0.1])
    assert list(r.index) == list(s.index[1:])
    assert r.name == "X"
    assert w == []


def test_price_returns_sorts_and_skips_nan():
    s = pd.Series([110.0, np.nan, 100.0], index=pd.to_datetime(["2020-01-06", "2020-01-03", "2020-01-02"]))
    r, _ = price_returns(s)
    assert r.to_list() == pytest.approx([0.1])
    assert r.index[0] == pd.Timestamp("2020-01-06")


def test_wti_negative_price_is_excluded_with_a_warning(market):
    wti = market.prices("WTI")
    assert wti["2020-04-20"] == -36.98
    r, warnings = price_returns(wti)
    assert np.isfinite(r.to_numpy()).all()
    assert pd.Timestamp("2020-04-20") not in r.index  # 18.31 -> -36.98
    assert pd.Timestamp("2020-04-21") not in r.index  # -36.98 -> 8.91
    assert r["2020-04-22"] == pytest.approx(13.64 / 8.91 - 1)
    assert r["2020-04-17"] == pytest.approx(wti["2020-04-17"] / wti["2020-04-16"] - 1)
    assert len(r) == len(wti) - 1 - 2
    assert len(warnings) == 1
    assert "2020-04-20" in warnings[0] and "-36.98" in warnings[0] and "2020-04-21" in warnings[0]


# --- frequencies -------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "expected"), [
    ("SPX", ("daily", 252)), ("BTC", ("daily", 252)), ("USDEUR", ("daily", 252)),
    ("GOLD", ("monthly", 12)), ("BTC_BITSTAMP", ("monthly", 12)), ("UST10Y_TR_DERIVED", ("monthly", 12)),
])
def test_infer_frequency_on_bundled_series(market, key, expected):
    assert infer_frequency(market.prices(key).index) == expected


@pytest.mark.parametrize(("freq", "expected"), [
    ("W-FRI", ("weekly", 52)), ("QE", ("quarterly", 4)), ("YE", ("annual", 1)), ("B", ("daily", 252)),
])
def test_infer_frequency_regular_calendars(freq, expected):
    assert infer_frequency(pd.date_range("2000-01-01", periods=40, freq=freq)) == expected


def test_infer_frequency_too_few_dates():
    assert infer_frequency(pd.DatetimeIndex(["2020-01-01"])) == ("unknown", 252)
    assert frequency_of_periods(12) == "monthly"
    assert frequency_of_periods(250) == "unknown"


def test_period_labels_by_hand():
    d = np.array(["2020-04-17", "2020-04-18", "2020-04-19", "2020-04-20", "2021-02-15"], dtype="datetime64[D]")
    assert [str(x) for x in period_labels(d, "daily")] == [
        "2020-04-17", "2020-04-20", "2020-04-20", "2020-04-20", "2021-02-15"]
    assert [str(x) for x in period_labels(d, "weekly")] == [
        "2020-04-17", "2020-04-24", "2020-04-24", "2020-04-24", "2021-02-19"]
    assert str(period_labels(d, "monthly")[-1]) == "2021-02-28"
    assert str(period_labels(d, "quarterly")[0]) == "2020-06-30"
    assert str(period_labels(d, "annual")[0]) == "2020-12-31"
    assert str(previous_label(np.datetime64("2020-04-20"), "daily")) == "2020-04-17"
    assert str(previous_label(np.datetime64("2020-03-31"), "monthly")) == "2020-02-29"
    assert str(previous_label(np.datetime64("2020-03-31"), "quarterly")) == "2019-12-31"
    with pytest.raises(ValueError, match="unknown frequency"):
        period_labels(d, "hourly")


# --- business-day alignment --------------------------------------------------------------------
def test_crypto_weekend_compounds_into_monday(market):
    frame, freq, p, _ = _aligned(market, ["SPY", "BTC"])
    assert (freq, p) == ("daily", 252)
    assert (frame.index.day_of_week < 5).all()
    btc = market.prices("BTC")
    # Friday 2020-03-13 -> Monday 2020-03-16 across the weekend
    assert frame.loc["2020-03-16", "BTC"] == pytest.approx(btc["2020-03-16"] / btc["2020-03-13"] - 1, rel=1e-12)
    assert frame.loc["2020-03-16", "BTC"] == pytest.approx(5381.745247 / 4724.392684 - 1, rel=1e-9)
    assert frame.loc["2020-03-16", "SPY"] == pytest.approx(223.119232 / 250.533478 - 1, rel=1e-9)
    # BTC's first price is a Sunday (2013-04-28): Monday's row would be partial, so it starts Tuesday
    assert frame.index[0] == pd.Timestamp("2013-04-30")
    # BTC's last price is Saturday 2022-01-01: that Monday would be partial too
    assert frame.index[-1] == pd.Timestamp("2021-12-31")


def test_holiday_is_a_zero_return_and_totals_are_preserved(market):
    frame, *_ = _aligned(market, ["SPY", "USDEUR", "BTC"], end="2017-12-01")
    # Good Friday 2017-04-14: the Fed published FX, NYSE was closed
    assert frame.loc["2017-04-14", "SPY"] == 0.0
    assert frame.loc["2017-04-14", "USDEUR"] == pytest.approx(0.9412 / 0.9407 - 1)
    spy = market.prices("SPY")
    assert frame.loc["2017-04-17", "SPY"] == pytest.approx(spy["2017-04-17"] / spy["2017-04-13"] - 1)
    first, last = frame.index[0], frame.index[-1]
    before = previous_label(np.datetime64(first, "D"), "daily")
    for key in frame.columns:
        prices = market.prices(key)
        expected = _price_on(prices, last) / _price_on(prices, before)
        assert np.prod(1 + frame[key].to_numpy()) == pytest.approx(expected, rel=1e-9), key


def test_daily_series_end_on_common_window(market):
    frame, *_ = _aligned(market, ["SPX", "AGG"])
    assert frame.index[0] == pd.Timestamp("2006-11-02")  # AGG's first price is 2006-11-01
    assert frame.index[-1] == pd.Timestamp("2016-10-13")
    assert not frame.isna().any().any()


# --- mixed frequencies -------------------------------------------------------------------------
def test_daily_and_monthly_analysed_monthly(market):
    frame, freq, p, warnings = _aligned(market, ["SPY", "AGG", "GOLD"])
    assert (freq, p) == ("monthly", 12)
    assert frame.index.is_month_end.all()
    # AGG starts 2006-11-01, so November 2006 is partial: the first whole month is December
    assert frame.index[0] == pd.Timestamp("2006-12-31")
    # AGG ends 2016-10-13: October 2016 is partial, the last whole month is September
    assert frame.index[-1] == pd.Timestamp("2016-09-30")
    spy = market.prices("SPY")
    assert frame.loc["2008-10-31", "SPY"] == pytest.approx(_price_on(spy, "2008-10-31") / spy["2008-09-30"] - 1)
    assert frame.loc["2008-10-31", "GOLD"] == pytest.approx(807.0 / 830.0 - 1)
    assert any("sampled at monthly period ends" in w and "GOLD" in w for w in warnings)


def test_month_end_and_month_start_dated_series_share_months(market):
    frame, freq, _, _ = _aligned(market, ["GOLD", "BTC_BITSTAMP"])
    assert freq == "monthly"
    assert frame.loc["2021-12-31", "BTC_BITSTAMP"] == pytest.approx(46648.83 / 58349.19 - 1)
    year = frame.loc["2022-01-31":"2022-12-31", "BTC_BITSTAMP"]
    assert len(year) == 12
    assert np.prod(1 + year) - 1 == pytest.approx(16567.0 / 46648.83 - 1, rel=1e-12)  # -64.5 % (README)
    assert round(np.prod(1 + year) - 1, 3) == -0.645


def test_partial_last_month_is_dropped(market):
    frame, *_ = _aligned(market, ["SPX", "GOLD"])
    assert frame.index[-1] == pd.Timestamp("2022-11-30")  # SPX ends 2022-12-28


def test_target_frequency_override(market):
    frame, freq, p, _ = _aligned(market, ["SPY", "GOLD"], target="quarterly")
    assert (freq, p) == ("quarterly", 4)
    assert frame.index.is_quarter_end.all()
    with pytest.raises(ValueError, match="cannot analyse monthly data at daily"):
        _aligned(market, ["SPY", "GOLD"], target="daily")


def test_no_overlap_gives_an_empty_frame(market):
    spy = price_returns(market.prices("SPY")["2020-01-01":])[0]
    agg = price_returns(market.prices("AGG"))[0]
    frame, *_ = align_returns({"SPY": spy, "AGG": agg}, frequencies={"SPY": "daily", "AGG": "daily"})
    assert frame.shape == (0, 2)


# --- window warning ----------------------------------------------------------------------------
def test_short_window_warning():
    year = pd.bdate_range("2015-10-01", "2016-09-30")
    assert short_window_warning(year, "daily", 252) is None
    assert "shorter than one year" in short_window_warning(year[1:], "daily", 252)
    months = pd.date_range("2015-10-31", "2016-09-30", freq="ME")
    assert short_window_warning(months, "monthly", 12) is None
    assert short_window_warning(months[1:], "monthly", 12) is not None
    assert short_window_warning(pd.RangeIndex(251), "unknown", 252) is not None
    assert short_window_warning(pd.RangeIndex(252), "unknown", 252) is None


# --- invariants (hypothesis) -------------------------------------------------------------------
_BASE = np.datetime64("2019-12-02", "D")  # a Monday


@st.composite
def _series(draw):
    kind = draw(st.sampled_from(["business", "calendar", "sparse", "month_start", "month_end"]))
    offset = draw(st.integers(0, 60))
    if kind in ("month_start", "month_end"):
        n = draw(st.integers(2, 30))
        months = np.datetime64("2019-11", "M") + offset // 10 + np.arange(n)
        days = months.astype("datetime64[D]") if kind == "month_start" else (months + 1).astype("datetime64[D]") - 1
        native = "monthly"
    else:
        n = draw(st.integers(5, 400))
        days = _BASE + offset + np.arange(n)
        if kind != "calendar":
            days = days[np.is_busday(days)]
        if kind == "sparse":
            keep = np.array(draw(st.lists(st.booleans(), min_size=len(days), max_size=len(days))), dtype=bool)
            keep[0] = True
            days = days[keep]
        native = "daily"
    steps = draw(st.lists(st.floats(-0.3, 0.3), min_size=len(days), max_size=len(days)))
    prices = 100 * np.exp(np.cumsum(steps))
    return pd.Series(prices, index=pd.DatetimeIndex(days.astype("datetime64[us]"))), native


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_series(), min_size=1, max_size=4))
def test_alignment_preserves_each_series_total(series):
    prices = {f"S{i}": s for i, (s, _) in enumerate(series)}
    natives = {f"S{i}": f for i, (_, f) in enumerate(series)}
    returns = {k: price_returns(p)[0] for k, p in prices.items()}
    frame, freq, _, _ = align_returns(returns, frequencies=natives, starts={k: s.index[0] for k, s in prices.items()})
    assert freq == ("monthly" if "monthly" in natives.values() else "daily")
    assert list(frame.columns) == list(prices)
    assert np.isfinite(frame.to_numpy()).all()
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert (frame.index.day_of_week < 5).all() if freq == "daily" else frame.index.is_month_end.all()
    if len(frame) == 0:
        return
    before = pd.Timestamp(previous_label(np.datetime64(frame.index[0], "D"), freq))
    for k, s in prices.items():
        assert s.index[0] <= before  # every series had a price when the window opened
        expected = _price_on(s, frame.index[-1]) / _price_on(s, before)
        assert np.prod(1 + frame[k].to_numpy()) == pytest.approx(expected, rel=1e-9)
