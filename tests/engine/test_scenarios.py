"""Historical scenarios (METRICS.md): the library, its data-computed references and replays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from engine.errors import InvalidRequest
from engine.market_data import MarketData, load_sample_portfolio
from engine.scenarios import LIBRARY, replay_scenarios, scenario_library, window_path
from engine.schemas import Holding, Portfolio


@pytest.fixture(scope="module")
def market() -> MarketData:
    return MarketData.bundled()


@pytest.fixture(scope="module")
def library(market) -> dict:
    return {s.id: s for s in scenario_library(market)}


class FakeMarket:
    """Synthetic series by key, with METRICS.md's equity default proxy."""

    def __init__(self, series: dict[str, pd.Series]) -> None:
        self.series = {k.upper(): v for k, v in series.items()}

    def has(self, key: str) -> bool:
        return key.upper() in self.series

    def prices(self, key: str) -> pd.Series:
        return self.series[key.upper()].rename(key)

    def default_proxy(self, exposure: str, symbol: str = "") -> str | None:
        return "SPY" if exposure == "equity" and self.has("SPY") else None


def holding(symbol: str, value: float, asset_class: str = "stock", target: float = 0.0, **kw) -> Holding:
    return Holding(symbol=symbol, asset_class=asset_class, quantity=value, price=1.0, target_weight=target, **kw)


# --- the library -------------------------------------------------------------------------------
def test_library_has_the_reference_windows(library):
    assert len(library) == len(LIBRARY) >= 15
    for sid, start, end in [("gfc_2008", "2007-10-09", "2009-03-09"), ("covid_2020", "2020-02-19", "2020-03-23"),
                            ("rate_shock_2022", "2022-01-03", "2022-10-12"), ("dotcom_2000", "2000-03-24", "2002-10-09")]:
        assert (library[sid].start, library[sid].end) == (dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    for info in library.values():
        assert info.start < info.end and info.name and info.description
        headline = info.reference.split(";")[0]
        assert "no bundled data" not in headline and "peak-to-trough" in headline, info.id


def test_sp500_peak_to_trough_losses_of_metrics_md(market, library):
    spx = market.prices("SPX")
    for sid, loss in [("gfc_2008", 0.5678), ("covid_2020", 0.3392)]:
        info = library[sid]
        levels = window_path(spx, info.start, info.end, "SPX").levels.to_numpy()
        assert 1 - levels.min() / np.maximum.accumulate(levels)[levels.argmin()] == pytest.approx(loss, abs=5e-5)
    assert "peak-to-trough -56.78% (1,565.15 on 2007-10-09 to 676.53 on 2009-03-09)" in library["gfc_2008"].reference
    assert "peak-to-trough -33.92% (3,386.15 on 2020-02-19 to 2,237.40 on 2020-03-23)" in library["covid_2020"].reference
    assert library["crypto_winter_2022"].reference.endswith("monthly observations")


def test_references_are_computed_from_the_data_not_typed_in():
    dates = pd.bdate_range("2007-01-01", "2009-12-31")
    spx = pd.Series(np.linspace(100.0, 50.0, dates.size), index=dates)
    info = {s.id: s for s in scenario_library(FakeMarket({"SPX": spx}))}["gfc_2008"]
    a, b = spx[:"2007-10-09"].iloc[-1], spx[:"2009-03-09"].iloc[-1]
    assert f"S&P 500 (SPX): peak-to-trough {b / a - 1:+.2%}" in info.reference
    assert "no bundled data covers the window" in info.reference          # AGG and WTI absent here


# --- reading one series through a window -------------------------------------------------------
def test_window_path_daily_monthly_and_gaps():
    days = pd.Series([10.0, 11.0, 12.0, 9.0], index=pd.to_datetime(["2020-01-02", "2020-01-06", "2020-01-08", "2020-01-10"]))
    wp = window_path(days, dt.date(2020, 1, 4), dt.date(2020, 1, 9))
    assert wp.levels.tolist() == [10.0, 11.0, 12.0]                        # start = last close on or before
    assert wp.relative.tolist() == pytest.approx([1.0, 1.1, 1.2])
    assert wp.relative.index[0] == pd.Timestamp("2020-01-04") and not wp.coarse
    assert window_path(days, dt.date(2020, 1, 4), dt.date(2020, 1, 31)) is None   # ends too early
    assert window_path(days, dt.date(2019, 12, 1), dt.date(2020, 1, 9)) is None   # starts too late
    months = pd.Series([100.0, 120.0, 90.0, 95.0], index=pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]))
    wp = window_path(months, dt.date(2020, 1, 20), dt.date(2020, 3, 20))
    assert wp.coarse and wp.levels.tolist() == [120.0, 90.0, 95.0]          # nearest observations
    assert list(wp.relative.index) == list(pd.to_datetime(["2020-01-20", "2020-03-01", "2020-03-20"]))
    assert wp.relative.iloc[-1] == pytest.approx(95 / 120)


def test_non_positive_wti_price_is_skipped_with_a_warning(market):
    wp = window_path(market.prices("WTI"), dt.date(2020, 4, 1), dt.date(2020, 4, 30), "WTI")
    assert "2020-04-20 (-36.98)" in wp.warnings[0]
    assert (wp.levels > 0).all() and pd.Timestamp("2020-04-20") not in wp.levels.index


# --- replays -----------------------------------------------------------------------------------
def test_replay_2008_on_the_pre_gfc_sample_by_hand():
    p = load_sample_portfolio("P2_PRE_GFC_MULTI_ASSET")
    r = replay_scenarios(p, ["gfc_2008"])[0]
    # Closes on 2007-10-09 and 2009-03-09 in the bundled files; GOLD at the nearest months.
    by_hand = {"SPY": 50.70116 / 113.145546, "AGG": 79.646274 / 74.164116, "JPM": 10.757877 / 30.68306,
               "XOM": 36.022495 / 50.246403, "GE": 25.369673 / 131.485062, "GOLD": 924.27 / 754.6,
               "WTI": 47.01 / 80.23, "EUR_CASH": 0.7096 / 0.7914}           # EURUSD = 1 / USDEUR
    weights = {h.symbol: h.value / p.total_value for h in p.holdings}
    got = {a.symbol: a for a in r.assets}
    for sym, ratio in by_hand.items():
        assert got[sym].asset_return == pytest.approx(ratio - 1, abs=2e-4), sym
        assert got[sym].contribution == pytest.approx(weights[sym] * got[sym].asset_return, rel=1e-12)
    expected = sum(weights[s] * got[s].asset_return for s in weights)
    assert r.portfolio_return == pytest.approx(expected, rel=1e-12)
    assert r.portfolio_return == pytest.approx(-0.3202, abs=1e-4)
    assert r.loss_value == pytest.approx(-expected * 250_025.57, abs=0.01)
    assert r.max_drawdown == pytest.approx(0.3409, abs=1e-4) and r.max_drawdown >= -r.portfolio_return
    assert r.proxied == ["EUR_CASH"] and got["EUR_CASH"].series == "EURUSD" and r.uncovered == []
    assert r.path.values[0] == 1.0 and r.path.values[-1] == pytest.approx(1 + r.portfolio_return)
    assert r.path.dates[0] == dt.date(2007, 10, 9) and r.path.dates[-1] == dt.date(2009, 3, 9)
    assert any(w.startswith("GOLD is monthly, read at 2007-10-01 and 2009-03-01") for w in r.warnings)


def test_missing_history_uses_the_exposure_proxy_or_is_uncovered():
    p = load_sample_portfolio("P4_GROWTH_AND_CRYPTO_2021")
    gfc, shock = replay_scenarios(p, ["gfc_2008", "rate_shock_2022"])
    assets = {a.symbol: a for a in gfc.assets}
    assert assets["META"].proxied and assets["META"].series == "SPY"             # listed 2012
    assert assets["META"].asset_return == assets["SPY"].asset_return
    assert gfc.uncovered == ["BTC"] and assets["BTC"].contribution is None       # no crypto before 2012
    covered = 1 - assets["BTC"].weight
    assert gfc.portfolio_return == pytest.approx(
        sum(a.weight * a.asset_return for a in gfc.assets if a.covered) / covered, rel=1e-12)
    assert any("BTC" in w and "left out" in w for w in gfc.warnings)
    btc = {a.symbol: a for a in shock.assets}["BTC"]
    assert btc.series == "BTC_BITSTAMP" and btc.proxied and "BTC" in shock.proxied   # daily BTC ends 2022-01-01
    # Month-end closes nearest the window: 2021-12-31 and 2022-09-30 (2022-10-31 is 19 days away).
    assert btc.asset_return == pytest.approx(19_495.0 / 46_648.83 - 1, rel=1e-12)


def test_bonds_before_agg_replay_on_the_derived_treasury_index():
    r = replay_scenarios(load_sample_portfolio("P1_CLASSIC_60_40"), ["dotcom_2000"])[0]
    agg = {a.symbol: a for a in r.assets}["AGG"]
    assert r.proxied == ["AGG"] and agg.series == "UST10Y_TR_DERIVED"
    assert any("AGG: UST10Y_TR_DERIVED is monthly" in w for w in r.warnings)


def test_cash_is_covered_at_zero_and_dilutes_the_loss():
    dates = pd.bdate_range("2020-01-01", "2020-04-30")
    spy = pd.Series(np.linspace(100.0, 60.0, dates.size), index=dates)
    p = Portfolio(cash=20.0, holdings=[holding("SPY", 50.0, "etf", 0.7), holding("USD", 30.0, "cash", 0.3)])
    r = replay_scenarios(p, ["covid_2020"], market=FakeMarket({"SPY": spy}))[0]
    spy_return = spy[:"2020-03-23"].iloc[-1] / spy[:"2020-02-19"].iloc[-1] - 1
    assert r.portfolio_return == pytest.approx(0.5 * spy_return, rel=1e-12)
    assert r.loss_value == pytest.approx(-0.5 * spy_return * 100.0, rel=1e-12)
    assert {a.symbol: a.asset_return for a in r.assets} == {"SPY": pytest.approx(spy_return), "USD": 0.0}
    assert r.max_drawdown == pytest.approx(-r.portfolio_return)              # a straight decline


def test_nothing_covered_is_said_not_silently_zero():
    p = Portfolio(holdings=[holding("XYZ", 10.0, target=1.0)])
    r = replay_scenarios(p, ["q4_2018"], market=FakeMarket({}))[0]
    assert r.uncovered == ["XYZ"] and r.assets[0].asset_return is None
    assert any("nothing to replay" in w for w in r.warnings)


def test_scenario_ids_all_and_unknown():
    p = load_sample_portfolio("P1_CLASSIC_60_40")
    assert [r.id for r in replay_scenarios(p, ["all"])] == [s.id for s in LIBRARY]
    with pytest.raises(InvalidRequest) as err:
        replay_scenarios(p, ["covid_2020", "nope", "q4_2018", "2009"])
    assert [d["loc"] for d in err.value.details] == [["scenarios", 1], ["scenarios", 3]]
    assert "unknown scenario 'nope'" in err.value.details[0]["msg"]


# --- thousands of holdings ----------------------------------------------------------------------
_KINDS = [("stock", None), ("mutual_fund", "fixed_income"), ("commodity", None), ("crypto", None),
          ("cash", "fx"), ("cash", None), ("etf", None)]


def _many(n: int, scale: float = 1.0) -> Portfolio:
    """The pre-GFC sample plus unknown symbols of every exposure (proxied, some user-proxied,
    foreign cash of several currencies, base-currency cash), deterministic values."""
    sample = load_sample_portfolio("P2_PRE_GFC_MULTI_ASSET")
    rows = [h.model_copy(update={"quantity": h.quantity * scale}) for h in sample.holdings]
    for i in range(n - len(rows)):
        cls, exposure = _KINDS[i % len(_KINDS)]
        symbol = f"{('EUR', 'JPY', 'GBP')[i % 3]}_C{i}" if exposure == "fx" else f"X{i}"
        rows.append(Holding(symbol=symbol, asset_class=cls, exposure=exposure, quantity=scale * (1 + i % 97),
                            price=10.0 + i % 13, target_weight=0.0, proxy="MSFT" if i % 11 == 0 and cls == "stock" else None))
    return Portfolio(holdings=[r.model_copy(update={"target_weight": 1.0 if i == 0 else 0.0}) for i, r in enumerate(rows)],
                     cash=1_000.0 * scale)


def _split(p: Portfolio) -> Portfolio:
    """Every holding as two holdings of half its quantity (the copy named ``<symbol>.B``, user-proxied to
    the series the original replays on when that is not its own name)."""
    rows = []
    for h in p.holdings:
        rows += [h.model_copy(update={"quantity": h.quantity / 2}),
                 h.model_copy(update={"symbol": f"{h.symbol}.B", "quantity": h.quantity / 2, "target_weight": 0.0,
                                      "proxy": h.proxy or (h.symbol if MarketData.bundled().has(h.symbol) else None)})]
    return Portfolio(holdings=rows, cash=p.cash)


@pytest.fixture(scope="module")
def big():
    p = _many(5_000)
    return p, replay_scenarios(p, ["all"])


def test_a_5000_holding_replay_is_the_sum_of_its_parts(market, big):
    p, results = big
    weights = np.array([h.value for h in p.holdings]) / p.total_value
    for r in results:
        a = {x.symbol: x for x in r.assets}
        assert [x.symbol for x in r.assets] == [h.symbol for h in p.holdings]
        covered = p.cash / p.total_value + sum(w for w, x in zip(weights, r.assets, strict=True) if x.covered)
        assert sum(x.contribution for x in r.assets if x.covered) == pytest.approx(r.portfolio_return, rel=1e-9, abs=1e-12)
        assert r.loss_value == pytest.approx(-r.portfolio_return * covered * p.total_value, rel=1e-9, abs=1e-6)
        # Every holding earns exactly its series' return; holdings on the same series earn the same.
        for key in {x.series for x in r.assets if x.covered and x.series != "cash"}:
            wp = window_path(market.prices(key), r.start, r.end, key)
            got = {x.asset_return for x in r.assets if x.series == key}
            assert len(got) == 1 and got.pop() == pytest.approx(float(wp.relative.iloc[-1] - 1), rel=1e-12), (r.id, key)
        assert r.uncovered == [x.symbol for x in r.assets if not x.covered]
        assert r.proxied == [x.symbol for x in r.assets if x.proxied]
        fx = [x for x in r.assets if "_C" in x.symbol and x.covered]
        assert fx and all(x.series.startswith(x.symbol[:3] + "USD") for x in fx)   # each its own currency
        msft = window_path(market.prices("MSFT"), r.start, r.end) is not None
        assert (a["X0"].series == "MSFT") == msft and a["X0"].proxied           # the user's proxy first
        # One message per proxied / uncovered holding, as for a small portfolio.
        replayed_on = [w for w in r.warnings if ", replayed on " in w]
        assert len(replayed_on) == len(r.proxied)
        assert sum(" proxy covers " in w for w in r.warnings) == len(r.uncovered)


def test_the_5000_holding_path_equals_a_per_holding_replay(market, big):
    """The grouped, matrix-product replay against a plain per-holding sum on the union of dates."""
    p, results = big
    for r in results:
        read = {k: window_path(market.prices(k), r.start, r.end, k).relative
                for k in {x.series for x in r.assets if x.covered and x.series != "cash"}}
        if not read:
            continue
        days = read[next(iter(read))].index.append([s.index for s in read.values()]).unique().sort_values()
        on_days = {k: s.reindex(days).ffill().fillna(1.0).to_numpy() for k, s in read.items()}
        value = np.full(days.size, p.cash / p.total_value)
        for x in r.assets:                       # one holding at a time, as before grouping
            if x.series == "cash":
                value += x.weight
            elif x.covered:
                value += x.weight * on_days[x.series]
        np.testing.assert_allclose(r.path.values, value / value[0], rtol=1e-12)
        assert r.path.dates == [d.date() for d in days]


def test_duplicating_holdings_or_scaling_quantities_changes_no_return(big):
    _, results = big
    halves = _many(2_500)
    ids = ["crash_1987", "gfc_2008", "brexit_2016", "covid_2020", "crypto_winter_2022"]
    scaled = replay_scenarios(_many(2_500, scale=7.0), ids)
    for base, split, times7 in zip(replay_scenarios(halves, ids), replay_scenarios(_split(halves), ids),
                                   scaled, strict=True):
        for other in (split, times7):
            assert other.portfolio_return == pytest.approx(base.portfolio_return, rel=1e-12, abs=1e-15)
            assert other.max_drawdown == pytest.approx(base.max_drawdown, rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(other.path.values, base.path.values, rtol=1e-12)
        assert times7.loss_value == pytest.approx(7 * base.loss_value, rel=1e-9, abs=1e-6)
        assert split.loss_value == pytest.approx(base.loss_value, rel=1e-9, abs=1e-6)
        two = {x.symbol: x for x in split.assets}
        for x in base.assets:          # each half earns what the whole did and contributes half of it
            for half in (two[x.symbol], two[f"{x.symbol}.B"]):
                assert (half.covered, half.asset_return) == (x.covered, pytest.approx(x.asset_return))
                assert half.weight == pytest.approx(x.weight / 2, rel=1e-12)
                if x.covered:
                    assert half.contribution == pytest.approx(x.contribution / 2, rel=1e-9, abs=1e-18)
        assert [x.asset_return for x in times7.assets] == [x.asset_return for x in base.assets]
    # The 5,000-holding portfolio's bundled holdings earn what they earn in the 9-holding sample.
    sample = {r.id: {x.symbol: x.asset_return for x in r.assets}
              for r in replay_scenarios(load_sample_portfolio("P2_PRE_GFC_MULTI_ASSET"), ["all"])}
    for r in results:
        assert {x.symbol: x.asset_return for x in r.assets if x.symbol in sample[r.id]} == sample[r.id]
