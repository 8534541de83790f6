"""A portfolio's aligned history: sources, proxies, windows, caller histories, benchmarks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine.alignment import previous_label
from engine.errors import DataError, InsufficientData
from engine.market_data import (
    MarketData,
    load_sample_portfolio,
    portfolio_returns,
    sample_portfolio_summaries,
    series_returns_like,
)
from engine.resources import market_dir
from engine.returns_frame import ReturnsFrame
from engine.schemas import AssetHistory, Holding, Portfolio

SAMPLES = ["P1_CLASSIC_60_40", "P2_PRE_GFC_MULTI_ASSET", "P3_PRE_COVID_DIVERSIFIED",
           "P4_GROWTH_AND_CRYPTO_2021", "P5_CONSERVATIVE_INCOME"]


@pytest.fixture(scope="module")
def market() -> MarketData:
    return MarketData.bundled()


def _h(symbol: str, asset_class: str = "stock", weight: float = 0.5, **kw) -> Holding:
    return Holding(symbol=symbol, asset_class=asset_class, quantity=10.0, price=100.0, target_weight=weight, **kw)


def _p(*holdings: Holding, as_of: dt.date | None = None, **kw) -> Portfolio:
    return Portfolio(holdings=list(holdings), as_of=as_of, **kw)


def _ratio(prices: pd.Series, start, end) -> float:
    return float(prices[: pd.Timestamp(end)].iloc[-1] / prices[: pd.Timestamp(start)].iloc[-1])


# --- samples -----------------------------------------------------------------------------------
def test_samples_validate_and_match_market_values(market):
    rows = pd.read_csv(market_dir() / "portfolios.csv")
    assert list(dict.fromkeys(rows["portfolio_id"])) == SAMPLES
    for pid in SAMPLES:
        p = load_sample_portfolio(pid)
        mine = rows[rows["portfolio_id"] == pid]
        assert [h.symbol for h in p.holdings] == mine["symbol"].to_list()
        assert sum(h.target_weight for h in p.holdings) == pytest.approx(1.0, abs=1e-9)
        assert p.as_of == dt.date.fromisoformat(mine["as_of_date"].iloc[0])
        for h, (_, r) in zip(p.holdings, mine.iterrows(), strict=True):
            assert round(h.value, 2) == pytest.approx(r["market_value_usd"], abs=0.011), (pid, h.symbol)
            assert h.value / p.total_value == pytest.approx(r["current_weight"], abs=1e-6)
            # the price is the last observation on or before as_of of its series
            key = h.proxy or h.symbol
            assert h.price == pytest.approx(market.latest_price(key, p.as_of), rel=1e-5), (pid, h.symbol)
    summaries = {s.id: s for s in sample_portfolio_summaries()}
    assert list(summaries) == SAMPLES
    assert summaries["P1_CLASSIC_60_40"].value == pytest.approx(99904.61)
    assert summaries["P2_PRE_GFC_MULTI_ASSET"].n_holdings == 8


def test_sample_holding_details():
    p2 = load_sample_portfolio("p2_pre_gfc_multi_asset")
    by = {h.symbol: h for h in p2.holdings}
    eur = by["EUR_CASH"]
    assert (eur.asset_class, eur.effective_exposure, eur.proxy) == ("cash", "fx", "EURUSD")
    assert eur.price == pytest.approx(1 / 0.6848, abs=1e-5)
    assert (by["AGG"].asset_class, by["AGG"].effective_exposure, by["AGG"].proxy) == ("etf", "fixed_income", None)
    assert (by["GOLD"].asset_class, by["GOLD"].effective_trade_unit) == ("commodity", 0.001)
    assert by["SPY"].name.startswith("SPDR S&P 500")
    ust = {h.symbol: h for h in load_sample_portfolio("P3_PRE_COVID_DIVERSIFIED").holdings}["UST10Y_TR_DERIVED"]
    assert (ust.asset_class, ust.effective_exposure, ust.effective_trade_unit) == ("bond", "fixed_income", 1e-4)


def test_unknown_sample():
    with pytest.raises(DataError, match=r"unknown sample portfolio 'NOPE'.*P1_CLASSIC_60_40") as err:
        load_sample_portfolio("NOPE")
    assert err.value.details[0]["loc"] == ["portfolio_id"]


@pytest.mark.parametrize("pid", SAMPLES)
def test_every_sample_has_a_clean_history(pid):
    p = load_sample_portfolio(pid)
    frame = portfolio_returns(p)
    assert list(frame.returns.columns) == [h.symbol for h in p.holdings]
    assert np.isfinite(frame.returns.to_numpy()).all()
    assert frame.uncovered == []
    assert frame.returns.index[-1] <= pd.Timestamp(p.as_of)


# --- windows -----------------------------------------------------------------------------------
def test_p1_daily_window_and_totals(market):
    frame = portfolio_returns(load_sample_portfolio("P1_CLASSIC_60_40"))
    r = frame.returns
    assert (frame.frequency, frame.periods_per_year, frame.dated) == ("daily", 252, True)
    assert (r.index[0], r.index[-1]) == (pd.Timestamp("2006-11-02"), pd.Timestamp("2016-09-30"))
    spy = market.prices("SPY")
    assert r.loc["2008-10-13", "SPY"] == pytest.approx(spy["2008-10-13"] / spy["2008-10-10"] - 1)
    assert np.prod(1 + r["SPY"]) == pytest.approx(_ratio(spy, "2006-11-01", "2016-09-30"), rel=1e-10)
    assert np.prod(1 + r["AGG"]) == pytest.approx(_ratio(market.prices("AGG"), "2006-11-01", "2016-09-30"), rel=1e-10)
    assert frame.warnings == [] and frame.proxies == {}


def test_p2_monthly_with_eur_cash(market):
    frame = portfolio_returns(load_sample_portfolio("P2_PRE_GFC_MULTI_ASSET"))
    r = frame.returns
    assert (frame.frequency, frame.periods_per_year) == ("monthly", 12)
    assert list(r.index.strftime("%Y-%m-%d")) == [d.strftime("%Y-%m-%d") for d in
                                                 pd.date_range("2006-12-31", "2007-12-31", freq="ME")]
    assert frame.proxies == {"EUR_CASH": "EURUSD"}
    eur = market.prices("EURUSD")
    assert r.loc["2007-12-31", "EUR_CASH"] == pytest.approx(_ratio(eur, "2007-11-30", "2007-12-31") - 1)
    assert r.loc["2007-12-31", "GOLD"] == pytest.approx(803.0 / market.prices("GOLD")["2007-11-01"] - 1)
    assert any("GOLD is monthly" in w for w in frame.warnings)
    assert not any("non-positive" in w for w in frame.warnings)  # WTI's 2020 dip is outside the window


def test_as_of_caps_the_window(market):
    p = _p(_h("SPY", "etf"), _h("BTC", "crypto"), as_of=dt.date(2020, 3, 18))
    frame = portfolio_returns(p)
    assert frame.returns.index[-1] == pd.Timestamp("2020-03-18")
    btc = market.prices("BTC")
    assert frame.returns.loc["2020-03-16", "BTC"] == pytest.approx(btc["2020-03-16"] / btc["2020-03-13"] - 1)


def test_wti_through_april_2020_stays_finite():
    frame = portfolio_returns(_p(_h("WTI", "commodity"), _h("SPY", "etf"), as_of=dt.date(2020, 6, 30)))
    r = frame.returns
    assert np.isfinite(r.to_numpy()).all()
    assert r.loc["2020-04-20", "WTI"] == 0.0 and r.loc["2020-04-21", "WTI"] == 0.0
    assert any("2020-04-20" in w and "-36.98" in w for w in frame.warnings)


def test_lookback_and_short_window_warning():
    p1 = load_sample_portfolio("P1_CLASSIC_60_40")
    one = portfolio_returns(p1, lookback_years=1)
    assert one.returns.index[0] == pd.Timestamp("2015-10-01")
    assert not any("shorter than one year" in w for w in one.warnings)
    half = portfolio_returns(p1, lookback_years=0.5)
    assert half.returns.index[0] > pd.Timestamp("2016-03-30")
    assert any("shorter than one year" in w for w in half.warnings)
    young = portfolio_returns(_p(_h("MTUM", "etf"), _h("SPY", "etf"), as_of=dt.date(2014, 6, 30)))
    assert young.returns.index[0] == pd.Timestamp("2014-01-03")
    assert any("shorter than one year" in w for w in young.warnings)


def test_periods_per_year_override():
    frame = portfolio_returns(load_sample_portfolio("P1_CLASSIC_60_40"), periods_per_year=250)
    assert (frame.periods_per_year, frame.frequency) == (250, "daily")


def test_insufficient_common_history(market):
    with pytest.raises(InsufficientData, match="fewer than 2 common returns"):
        portfolio_returns(_p(_h("SPY", "etf", 1.0), as_of=dt.date(1993, 1, 29)))
    late = market.with_user_series({"NEW": pd.Series([1.0, 1.1, 1.2], index=pd.bdate_range("2020-01-01", periods=3))},
                                   "new.csv")
    with pytest.raises(InsufficientData, match=r"AGG 2006-11-01\.\.2016-10-13"):
        portfolio_returns(_p(_h("AGG", "etf"), _h("NEW")), market=late)
    with pytest.raises(InsufficientData, match="no holding has a price history"):
        portfolio_returns(_p(_h("USD", "cash", 1.0)))


# --- sources -----------------------------------------------------------------------------------
def test_holding_sources_and_proxies(market):
    p = _p(_h("spy", "etf", 0.2), _h("MYFUND", "mutual_fund", 0.1), _h("BONDFUND", "mutual_fund", 0.1,
           exposure="fixed_income"), _h("USD", "cash", 0.1), _h("EUR_CASH", "cash", 0.1, exposure="fx"),
           _h("ETH", "crypto", 0.1), _h("XYZ", "fx", 0.1), _h("QFUND", "mutual_fund", 0.1, proxy="qual"),
           _h("OIL", "commodity", 0.1), as_of=dt.date(2016, 9, 30))
    frame = portfolio_returns(p)
    r = frame.returns
    assert frame.proxies == {"MYFUND": "SPY", "BONDFUND": "AGG", "EUR_CASH": "EURUSD", "ETH": "BTC",
                             "QFUND": "QUAL", "OIL": "WTI"}
    assert frame.uncovered == ["XYZ"]
    assert (r["USD"] == 0).all() and (r["XYZ"] == 0).all()
    np.testing.assert_array_equal(r["MYFUND"].to_numpy(), r["spy"].to_numpy())
    assert r.index[0] == pd.Timestamp("2014-01-03")  # QUAL (the proxy) starts 2014-01-02
    warned = " ".join(frame.warnings)
    for sym in ("MYFUND", "BONDFUND", "ETH", "OIL", "XYZ"):
        assert sym in warned
    assert "QFUND" not in warned and "EUR_CASH" not in warned  # chosen by the user / exact, not a stand-in


def test_default_bond_proxy_after_agg_ends():
    frame = portfolio_returns(_p(_h("SPY", "etf"), _h("BONDFUND", "mutual_fund", exposure="fixed_income"),
                                 as_of=dt.date(2020, 12, 31)))
    assert frame.proxies == {"BONDFUND": "UST10Y_TR_DERIVED"}
    assert frame.frequency == "monthly" and frame.returns.index[-1] == pd.Timestamp("2020-12-31")


def test_unknown_proxy_names_the_holding():
    with pytest.raises(DataError, match="unknown proxy series 'NOPE'") as err:
        portfolio_returns(_p(_h("SPY", "etf"), _h("F", "mutual_fund", proxy="NOPE")))
    assert err.value.details[0]["loc"] == ["portfolio", "holdings", 1, "proxy"]


def test_user_series_in_a_portfolio(market):
    spy = market.prices("SPY")["2019-01-01":"2019-12-31"]
    mine = market.with_user_series({"HOUSEFUND": spy * 2}, "house.csv")
    frame = portfolio_returns(_p(_h("HOUSEFUND", "mutual_fund"), _h("SPY", "etf")), market=mine)
    np.testing.assert_allclose(frame.returns["HOUSEFUND"], frame.returns["SPY"], rtol=1e-12)
    assert frame.proxies == {} and frame.returns.index[-1] == pd.Timestamp("2019-12-31")


# --- caller-supplied history -------------------------------------------------------------------
def test_history_is_tail_aligned():
    history = AssetHistory(returns={"a": [0.5, 0.01, 0.02, 0.03], "B": [-0.01, 0.04, 0.0]}, periods_per_year=12)
    p = _p(_h("A", weight=0.4), _h("B", weight=0.3), _h("CASH", "cash", 0.1), _h("C", weight=0.1),
           _h("EUR_CASH", "cash", 0.1, exposure="fx"))
    frame = portfolio_returns(p, history=history)
    assert isinstance(frame.returns.index, pd.RangeIndex) and not frame.dated
    assert frame.returns["A"].to_list() == [0.01, 0.02, 0.03]
    assert frame.returns["B"].to_list() == [-0.01, 0.04, 0.0]
    assert frame.returns["CASH"].to_list() == frame.returns["EUR_CASH"].to_list() == [0.0] * 3
    assert (frame.periods_per_year, frame.frequency, frame.uncovered) == (12, "monthly", ["C"])
    assert any("most recent observation" in w for w in frame.warnings)
    assert any("shorter than one year" in w for w in frame.warnings)
    assert portfolio_returns(p, history=history, periods_per_year=4).periods_per_year == 4
    assert portfolio_returns(p, history=history, lookback_years=1 / 6).returns["A"].to_list() == [0.02, 0.03]
    with pytest.raises(InsufficientData):
        portfolio_returns(p, history=AssetHistory(returns={"A": [0.1]}))


# --- benchmarks --------------------------------------------------------------------------------
def test_benchmark_on_a_daily_frame(market):
    frame = portfolio_returns(load_sample_portfolio("P1_CLASSIC_60_40"))
    spx = series_returns_like("spx", frame)
    assert spx.index.equals(frame.returns.index) and spx.name == "SPX"
    prices = market.prices("SPX")
    assert spx["2008-10-13"] == pytest.approx(prices["2008-10-13"] / prices["2008-10-10"] - 1)
    start = pd.Timestamp(previous_label(np.datetime64(frame.returns.index[0], "D"), "daily"))
    assert np.prod(1 + spx) == pytest.approx(_ratio(prices, start, "2016-09-30"), rel=1e-10)


def test_benchmark_days_missing_from_the_frame_are_compounded(market):
    # a frame on a thinned calendar: SPY's skipped days must land in the next frame date
    full = portfolio_returns(load_sample_portfolio("P1_CLASSIC_60_40"))
    thin = ReturnsFrame(returns=full.returns.iloc[::5], periods_per_year=252, frequency="daily")
    spy = series_returns_like("SPY", thin)
    prices = market.prices("SPY")
    d0, d1 = thin.returns.index[1], thin.returns.index[2]
    assert spy[d1] == pytest.approx(_ratio(prices, d0, d1) - 1, rel=1e-10)


def test_benchmark_on_a_monthly_frame(market):
    frame = portfolio_returns(load_sample_portfolio("P5_CONSERVATIVE_INCOME"))
    spx = series_returns_like("SPX", frame)
    prices = market.prices("SPX")
    assert spx["2015-08-31"] == pytest.approx(_ratio(prices, "2015-07-31", "2015-08-31") - 1)
    assert spx.index.equals(frame.returns.index)


def test_benchmark_that_cannot_cover_the_window():
    frame = portfolio_returns(load_sample_portfolio("P4_GROWTH_AND_CRYPTO_2021"))
    with pytest.raises(InsufficientData, match="does not cover"):
        series_returns_like("AGG", frame)
    with pytest.raises(InsufficientData, match="GOLD is monthly"):
        series_returns_like("GOLD", frame)
    undated = portfolio_returns(_p(_h("A", weight=1.0)), history=AssetHistory(returns={"A": [0.1, 0.2]}))
    with pytest.raises(InsufficientData, match="undated"):
        series_returns_like("SPY", undated)


def test_resolve_sources_for_a_scenario_window(market):
    from engine.market_data import resolve_sources

    p = _p(_h("META"), _h("BONDFUND", "mutual_fund", exposure="fixed_income"), as_of=dt.date(2021, 12, 31))
    default = resolve_sources(p, market)
    assert [(s.key, s.proxied) for s in default] == [("META", False), ("UST10Y_TR_DERIVED", True)]
    in_2008 = resolve_sources(p, market, window_end=dt.date(2008, 12, 31))
    assert [(s.key, s.proxied) for s in in_2008] == [("META", False), ("AGG", True)]
    assert "BONDFUND" in in_2008[1].warning and "AGG" in in_2008[1].warning


def test_non_usd_base_currency_is_flagged():
    frame = portfolio_returns(_p(_h("SPY", "etf"), _h("AGG", "etf"), base_currency="EUR"))
    assert any("USD returns, not EUR returns" in w for w in frame.warnings)


def test_a_monthly_average_is_used_only_once_its_month_has_ended(market):
    # GOLD's March 2020 value (dated 2020-03-01) averages the whole of March: unknown on 2020-03-18
    frame = portfolio_returns(_p(_h("GOLD", "commodity"), _h("UST10Y_TR_DERIVED", "bond"), as_of=dt.date(2020, 3, 18)))
    assert frame.returns.index[-1] == pd.Timestamp("2020-02-29")
    gold = market.prices("GOLD")
    assert frame.returns["GOLD"].iloc[-1] == pytest.approx(gold["2020-02-01"] / gold["2020-01-01"] - 1)
    at_month_end = portfolio_returns(_p(_h("GOLD", "commodity"), _h("UST10Y_TR_DERIVED", "bond"),
                                        as_of=dt.date(2020, 3, 31)))
    assert at_month_end.returns.index[-1] == pd.Timestamp("2020-03-31")


def test_5000_holdings_resolve_as_each_would_alone(market):
    """Thousands of holdings share a few default proxies; each is still resolved on its own
    terms (FX by its currency, a user proxy first) and its column is its series' returns."""
    from engine.market_data import resolve_sources

    kinds = [("stock", None, None), ("mutual_fund", "fixed_income", None), ("commodity", None, None),
             ("crypto", None, None), ("cash", "fx", None), ("stock", None, "MSFT"), ("cash", None, None)]
    rows = [_h("SPY", "etf", 1.0), _h("AGG", "etf", 0.0)]
    for i in range(4_998):
        cls, exposure, proxy = kinds[i % len(kinds)]
        symbol = f"{('EUR', 'JPY', 'GBP', 'CHF')[i % 4]}_C{i}" if exposure == "fx" else f"X{i}"
        rows.append(Holding(symbol=symbol, asset_class=cls, exposure=exposure, proxy=proxy, quantity=1.0 + i % 7,
                            price=10.0, target_weight=0.0))
    p = _p(*rows, as_of=dt.date(2019, 6, 28))
    sources = resolve_sources(p, market)
    end = min(market.info(k).end for k in ("SPY", "AGG", "MSFT"))      # AGG's last day, before as_of
    assert end < p.as_of
    for h, s in zip(p.holdings[2:], sources[2:], strict=True):
        alone = resolve_sources(_p(h.model_copy(update={"target_weight": 1.0})), market, window_end=end)[0]
        assert s == alone, h.symbol
        if h.asset_class == "cash" and h.exposure == "fx":
            assert s.key == f"{h.symbol[:3]}USD"
    frame = portfolio_returns(p)
    r = frame.returns
    assert r.shape[1] == 5_000 and len(frame.proxies) == sum(s.proxied for s in sources)
    first: dict[str | None, str] = {"SPY": "SPY", "AGG": "AGG"}
    for h, src in zip(p.holdings, sources, strict=True):   # every holding on a series has its exact returns
        column = r[h.symbol].to_numpy()
        if src.key is None:
            assert not column.any(), h.symbol
        else:
            assert column.any(), h.symbol
            np.testing.assert_array_equal(column, r[first.setdefault(src.key, h.symbol)].to_numpy(), h.symbol)
    assert {"SPY", "AGG", "MSFT", "WTI", "BTC", "EURUSD", "JPYUSD", "GBPUSD", "CHFUSD"} <= set(first)
    assert sum("stands in as the default" in w for w in frame.warnings) == sum(s.warning is not None for s in sources)


# --- reuse of derived values -----------------------------------------------------------------------
def test_derived_values_are_built_once_and_bounded(monkeypatch):
    from engine import market_store

    fresh = MarketData(market_dir())
    calls = []
    assert fresh.derived("k", lambda: calls.append(1) or "v") == "v"
    assert fresh.derived("k", lambda: calls.append(1) or "other") == "v" and calls == [1]
    monkeypatch.setattr(market_store, "DERIVED_CACHE_SIZE", 3)
    for i in range(5):
        fresh.derived(("n", i), lambda i=i: i)
    assert fresh.derived(("n", 0), lambda: "rebuilt") == "rebuilt"  # least recently used: dropped
    assert fresh.derived(("n", 4), lambda: "rebuilt") == 4


def test_reused_windows_give_the_same_frame_and_stay_unchanged():
    """A second request for the same symbols reuses the aligned window; what a caller does with
    its frame never reaches the next caller, and the result equals a cold computation."""
    p = _p(_h("SPY", weight=0.6), _h("AGG", "etf", weight=0.4))
    first = portfolio_returns(p)
    first.returns.iloc[:, :] = 99.0  # a caller scribbling on its own frame
    second = portfolio_returns(p)
    cold = portfolio_returns(p, market=MarketData(market_dir()))
    pd.testing.assert_frame_equal(second.returns, cold.returns)
    assert second.warnings == cold.warnings and float(second.returns.abs().max().max()) < 1.0
    looked_back = portfolio_returns(p, lookback_years=1)
    assert len(looked_back.returns) < len(second.returns)  # the lookback is part of the key
