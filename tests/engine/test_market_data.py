"""The bundled catalogue, prices and proxies, pinned on the real data (resources/market)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine.errors import DataError
from engine.market_data import MarketData
from engine.resources import market_dir


@pytest.fixture(scope="module")
def market() -> MarketData:
    return MarketData.bundled()


@pytest.fixture(scope="module")
def series_csv() -> pd.DataFrame:
    return pd.read_csv(market_dir() / "series.csv", dtype=str)


PRICE_FILES = {"prices_daily.csv", "prices_monthly.csv", "derived_monthly.csv"}
FX = ("EUR", "JPY", "GBP", "CHF")


def test_bundled_is_one_shared_instance(market):
    assert MarketData.bundled() is market


def test_catalogue_keys(market, series_csv):
    rows = series_csv[series_csv["file"].isin(PRICE_FILES)]
    daily = set(rows.loc[rows["frequency"] == "daily", "symbol"])
    expected = [s if f == "daily" or s not in daily else f"{s}@monthly" for s, f in zip(rows["symbol"], rows["frequency"],
                                                                                          strict=True)]
    expected += [f"{c}USD" for c in FX] + [f"{c}USD@monthly" for c in FX]
    assert market.keys() == expected
    assert [i.key for i in market.catalogue()] == expected
    assert len(set(expected)) == len(expected) == 47
    for c in FX:
        assert market.info(f"USD{c}").frequency == "daily"
        assert market.info(f"USD{c}@monthly").frequency == "monthly"


def test_rates_and_factor_tables_are_not_holdable(market):
    for key in ("UST_10Y", "UST_3M", "FF3", "SPX_SHILLER"):
        assert not market.has(key)
    with pytest.raises(DataError, match="unknown series 'UST_10Y'") as err:
        market.info("UST_10Y")
    assert err.value.details[0]["loc"] == ["series", "UST_10Y"]


def test_catalogue_rows_agree_with_series_csv(market, series_csv):
    rows = series_csv[series_csv["file"].isin(PRICE_FILES)]
    for info, (_, r) in zip(market.catalogue(), rows.iterrows(), strict=False):
        assert info.symbol == r["symbol"]
        assert (str(info.start), str(info.end), info.rows) == (r["start"], r["end"], int(r["rows"])), info.key
        assert info.data_class == r["asset_class"] and info.name == r["name"] and info.license == r["license"]
        assert info.last_price == market.prices(info.key).iloc[-1]


def test_classes_from_data_class_map(market):
    agg, spx, ust, eur = (market.info(k) for k in ("AGG", "SPX", "UST10Y_TR_DERIVED", "EURUSD"))
    assert (agg.asset_class, agg.exposure, agg.derived) == ("etf", "fixed_income", False)
    assert (spx.asset_class, spx.exposure) == ("etf", "equity")
    assert (ust.asset_class, ust.exposure, ust.derived) == ("bond", "fixed_income", True)
    assert (eur.asset_class, eur.exposure, eur.derived, eur.data_class) == ("cash", "fx", True, "cash_fx")
    assert market.info("SPX_TR_SHILLER_DERIVED").derived
    assert market.info("btc").key == "BTC" and market.has("usdeur@MONTHLY")


def test_every_series_is_clean(market):
    keys = market.keys()
    for key in keys:
        s = market.prices(key)
        assert s.name == key
        assert s.dtype == np.float64
        assert isinstance(s.index, pd.DatetimeIndex)
        assert s.index.is_monotonic_increasing and s.index.is_unique
        assert not s.isna().any()


def test_pinned_prices(market):
    spx = market.prices("SPX")
    assert spx["2007-10-09"] == 1565.15
    assert spx["2009-03-09"] == 676.53
    assert round(spx["2009-03-09"] / spx["2007-10-09"] - 1, 4) == -0.5678
    assert round(spx["2020-03-23"] / spx["2020-02-19"] - 1, 4) == -0.3392
    assert spx["2021-12-31"] == 4766.18
    assert market.prices("WTI")["2020-04-20"] == -36.98
    assert market.prices("WTI")["2008-07-03"] == 145.31
    spy = market.prices("SPY")
    assert round(spy["2008-12-31"] / spy["2007-12-31"] - 1, 4) == -0.3679
    assert market.prices("BTC_BITSTAMP")["2022-12-31"] == 16567.0
    assert market.prices("GOLD")["2007-12-01"] == 803.0


def test_inverse_fx(market):
    usd_eur, eur_usd = market.prices("USDEUR"), market.prices("EURUSD")
    assert usd_eur["2008-04-22"] == 0.6246
    assert round(eur_usd["2008-04-22"], 4) == 1.6010  # README: EUR/USD peak
    np.testing.assert_allclose(eur_usd.to_numpy(), 1 / usd_eur.to_numpy(), rtol=1e-15)
    assert market.prices("EURUSD@monthly").index.equals(market.prices("USDEUR@monthly").index)
    assert market.prices("USDEUR")["2008-04-22"] == 0.6246  # the cached series is never inverted in place


def test_latest_price(market):
    assert market.latest_price("SPX", dt.date(2007, 10, 9)) == 1565.15
    assert market.latest_price("SPY", dt.date(2016, 10, 1)) == market.prices("SPY")["2016-09-30"]  # a Saturday
    assert market.latest_price("GOLD", dt.date(2007, 12, 31)) == 803.0
    assert market.latest_price("AGG") == market.info("AGG").last_price
    with pytest.raises(DataError, match="no price on or before 1990-01-01"):
        market.latest_price("SPX", dt.date(1990, 1, 1))


def test_default_proxies(market):
    assert market.default_proxy("equity") == "SPY"
    assert market.default_proxy("fixed_income") == "AGG"
    assert market.default_proxy("fixed_income", end=dt.date(2016, 9, 30)) == "AGG"
    assert market.default_proxy("fixed_income", end=dt.date(2020, 6, 30)) == "UST10Y_TR_DERIVED"
    assert market.default_proxy("commodity") == "WTI"
    assert market.default_proxy("commodity", end=dt.date(1980, 1, 31)) == "GOLD"
    assert market.default_proxy("crypto") == "BTC"
    assert market.default_proxy("crypto", end=dt.date(2023, 6, 30)) == "BTC_BITSTAMP"
    assert market.default_proxy("fx", "EUR_CASH") == "EURUSD"
    assert market.default_proxy("fx", "jpy deposit") == "JPYUSD"
    assert market.default_proxy("fx", "GBP", end=dt.date(2020, 1, 31)) == "GBPUSD@monthly"
    assert market.default_proxy("fx", "XYZ") is None
    assert market.default_proxy("cash") is None
    assert market.default_proxy("equity", end=dt.date(2024, 12, 31)) is None  # SPY ends 2024-11-29


# --- user series -------------------------------------------------------------------------------
def _user(values, dates, name="MYFUND"):
    return pd.Series(values, index=pd.to_datetime(dates), name=name)


def test_with_user_series_is_a_new_instance(market):
    s = _user([10.0, 11.0, 12.0], ["2020-01-31", "2020-02-29", "2020-03-31"])
    mine = market.with_user_series({"MYFUND": s, "spy": _user([1.0, 2.0], ["2020-01-02", "2020-01-03"])}, "mine.csv")
    assert not market.has("MYFUND") and mine.has("myfund")
    info = mine.info("MYFUND")
    assert (info.frequency, info.rows, info.last_price, info.source, info.data_class) == (
        "monthly", 3, 12.0, "mine.csv", "user")
    assert (info.start, info.end) == (dt.date(2020, 1, 31), dt.date(2020, 3, 31))
    # a user key equal to a bundled one replaces it there only
    assert mine.prices("SPY").to_list() == [1.0, 2.0]
    assert len(market.prices("SPY")) == 8017
    keys = mine.keys()
    assert keys[-2:] == ["MYFUND", "spy"] and "SPY" not in keys
    assert mine.prices("SPX")["2007-10-09"] == 1565.15  # bundled data still there


@pytest.mark.parametrize(("series", "message"), [
    (pd.Series([1.0, 2.0]), "not indexed by dates"),
    (_user([], []), "has no prices"),
    (_user([1.0, np.nan], ["2020-01-02", "2020-01-03"]), "non-finite"),
    (_user([1.0, 2.0], ["2020-01-02", "2020-01-02"]), "2020-01-02 twice"),
])
def test_bad_user_series(market, series, message):
    with pytest.raises(DataError, match=message):
        market.with_user_series({"X": series}, "upload.csv")
