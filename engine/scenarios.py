"""Historical scenarios: named date windows replayed on the current holdings (METRICS.md).

A replay is buy-and-hold through the window with today's weights and no rebalancing. Each
holding is replayed on its own bundled series when that covers the window, else on a proxy of
its exposure (the user's override, the market data's default proxy, then the other documented
proxies of the exposure, ``DEFAULT_PROXIES``), else it is *uncovered*: listed, excluded from the figures and warned about.
Monthly-only series are read at the observations nearest to the window's ends, with a warning.

Every scenario's reference figure is computed from the bundled data when the library is
listed, never typed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from engine.alignment import infer_frequency
from engine.errors import InvalidRequest
from engine.market_data import DEFAULT_PROXIES, MarketData
from engine.schemas import AssetScenarioImpact, Portfolio, ScenarioInfo, ScenarioResult, SeriesPoint

__all__ = ["LIBRARY", "Scenario", "WindowPath", "replay_scenarios",
           "scenario_library", "window_path"]

#: A daily series covers a window if it has an observation this close to each end.
_DAILY_SLACK = pd.Timedelta(days=7)
#: A monthly series' nearest observation must be at most this far from a window end.
_MONTHLY_SLACK = pd.Timedelta(days=31)


class Market(Protocol):
    """What the scenarios need from :class:`engine.market_data.MarketData`."""

    def has(self, key: str) -> bool: ...
    def prices(self, key: str) -> pd.Series: ...
    def default_proxy(self, exposure: str, symbol: str) -> str | None: ...


@dataclass(frozen=True)
class Scenario:
    """One window of the library; ``references`` are (series key, label), the first is the headline."""

    id: str
    name: str
    start: dt.date
    end: dt.date
    description: str
    references: tuple[tuple[str, str], ...]


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


SPX = ("SPX", "S&P 500 (SPX)")
LIBRARY: tuple[Scenario, ...] = (
    Scenario("crash_1987", "1987 crash (Black Monday)", _d("1987-08-25"), _d("1987-12-04"),
             "S&P 500 peak of 25 Aug 1987 to the December low, Black Monday (19 Oct) inside. No daily "
             "equity data reaches 1987: equities replay on the monthly Shiller total-return index, whose "
             "monthly averages understate the daily fall.",
             (("SPX_TR_SHILLER_DERIVED", "S&P 500 total return, Shiller monthly averages (derived)"),
              ("WTI", "WTI crude"))),
    Scenario("gulf_war_1990", "1990 Gulf war", _d("1990-07-16"), _d("1990-10-11"),
             "Iraq invades Kuwait: oil doubles, equities fall into the 1990 recession.",
             (SPX, ("WTI", "WTI crude"))),
    Scenario("bond_rout_1994", "1994 bond rout", _d("1993-10-15"), _d("1994-11-07"),
             "The Fed's surprise tightening: 10-year yields rise from about 5.2 % to 8 %.",
             (("UST10Y_TR_DERIVED", "10y Treasury total return (derived, monthly)"), SPX)),
    Scenario("asia_1997", "1997 Asian crisis mini-crash", _d("1997-10-07"), _d("1997-10-27"),
             "Contagion from South-East Asia ends in the 27 October 1997 one-day fall.", (SPX,)),
    Scenario("ltcm_1998", "1998 Russia default and LTCM", _d("1998-07-17"), _d("1998-10-08"),
             "Russia defaults, the LTCM hedge fund fails, the Fed cuts rates.", (SPX,)),
    Scenario("dotcom_2000", "2000-02 dot-com bust", _d("2000-03-24"), _d("2002-10-09"),
             "From the S&P 500 peak of March 2000 to the October 2002 low.", (SPX,)),
    Scenario("sept11_2001", "September 2001 attacks", _d("2001-09-10"), _d("2001-09-21"),
             "Markets close 11-14 September; the week after they reopen.", (SPX, ("WTI", "WTI crude"))),
    Scenario("gfc_2008", "2008 financial crisis", _d("2007-10-09"), _d("2009-03-09"),
             "From the S&P 500 peak of October 2007 to the March 2009 low.",
             (SPX, ("AGG", "US aggregate bonds (AGG)"), ("WTI", "WTI crude"))),
    Scenario("flash_crash_2010", "2010 flash crash and euro debt scare", _d("2010-04-23"), _d("2010-07-02"),
             "The 6 May 2010 flash crash and the first Greek bail-out.", (SPX,)),
    Scenario("us_downgrade_2011", "2011 US downgrade", _d("2011-07-07"), _d("2011-10-03"),
             "Debt-ceiling stand-off, S&P's downgrade of the US and the euro crisis.", (SPX,)),
    Scenario("taper_tantrum_2013", "2013 taper tantrum", _d("2013-05-02"), _d("2013-09-05"),
             "Talk of tapering bond purchases lifts 10-year yields from about 1.6 % to 3 %.",
             (("AGG", "US aggregate bonds (AGG)"), SPX)),
    Scenario("oil_crash_2014", "2014-16 oil crash", _d("2014-06-20"), _d("2016-02-11"),
             "Shale supply and OPEC's market-share war take WTI from above 100 USD to the mid-20s.",
             (("WTI", "WTI crude"), SPX)),
    Scenario("china_2015", "2015-16 China and oil selloff", _d("2015-05-21"), _d("2016-02-11"),
             "The yuan devaluation of August 2015 and falling oil.", (SPX, ("WTI", "WTI crude"))),
    Scenario("brexit_2016", "2016 Brexit vote", _d("2016-06-23"), _d("2016-06-27"),
             "The UK votes to leave the EU; sterling falls.", (("GBPUSD", "GBP/USD"), SPX)),
    Scenario("volmageddon_2018", "February 2018 volatility spike", _d("2018-01-26"), _d("2018-02-08"),
             "Short-volatility products blow up.", (SPX,)),
    Scenario("q4_2018", "Q4 2018 selloff", _d("2018-09-20"), _d("2018-12-24"),
             "Fed tightening and trade-war fears, to the Christmas Eve low.", (SPX,)),
    Scenario("covid_2020", "2020 COVID crash", _d("2020-02-19"), _d("2020-03-23"),
             "From the S&P 500 peak of February 2020 to the March low.",
             (SPX, ("WTI", "WTI crude"))),
    Scenario("rate_shock_2022", "2022 rate shock", _d("2022-01-03"), _d("2022-10-12"),
             "Inflation and the fastest Fed hikes in decades hit stocks and bonds together.",
             (SPX, ("UST10Y_TR_DERIVED", "10y Treasury total return (derived, monthly)"))),
    Scenario("crypto_winter_2022", "2021-22 crypto winter", _d("2021-11-10"), _d("2022-11-21"),
             "Bitcoin from its November 2021 high through the Terra and FTX collapses (monthly data).",
             (("BTC_BITSTAMP", "Bitcoin (Bitstamp month-end)"),)),
)


# --- one series in one window ------------------------------------------------------------------
@dataclass(frozen=True)
class WindowPath:
    """A series read through a window.

    ``relative`` is its value relative to 1 at the window start, dated inside the window (a
    monthly observation outside it is dated at the nearer window end); ``levels`` are the raw
    observations used, on their own dates.
    """

    key: str
    relative: pd.Series
    levels: pd.Series
    coarse: bool
    warnings: tuple[str, ...]


def _nearest(index: pd.DatetimeIndex, when: pd.Timestamp) -> int:
    i = int(index.searchsorted(when))
    if i == 0:
        return 0
    if i == len(index):
        return i - 1
    return i if index[i] - when < when - index[i - 1] else i - 1


def is_coarse(prices: pd.Series) -> bool:
    """Whether a series is monthly (or coarser): read at nearest observations, not daily closes."""
    positive = prices.index[prices.to_numpy() > 0]
    return infer_frequency(positive)[0] not in ("daily", "unknown")


def window_path(prices: pd.Series, start: dt.date, end: dt.date, key: str = "", *,
                coarse: bool | None = None) -> WindowPath | None:
    """Read ``prices`` through ``[start, end]``; ``None`` when the series does not cover it.

    Daily data covers a window when it has an observation at most 7 days before each end; the
    start level is the last observation on or before ``start``. Monthly (or coarser) data is
    read at the observations nearest each end, at most 31 days away. Non-positive prices (WTI on
    2020-04-20) are not levels a holding can be valued at: they are skipped with a warning.
    ``coarse`` (from :func:`is_coarse`) may be passed to save inferring it again.
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    s = prices.dropna()
    s = s if s.index.is_monotonic_increasing else s.sort_index()
    coarse = is_coarse(s) if coarse is None else coarse
    s = s.iloc[s.index.searchsorted(t0 - _MONTHLY_SLACK):s.index.searchsorted(t1 + _MONTHLY_SLACK, "right")]
    warnings = []
    if (s <= 0).any():
        bad = ", ".join(f"{d:%Y-%m-%d} ({v:g})" for d, v in s[s <= 0].items())
        warnings.append(f"{key}: non-positive price on {bad} skipped as a data-quality problem")
        s = s[s > 0]
    if s.empty:
        return None
    idx = s.index
    if coarse:
        i0, i1 = _nearest(idx, t0), _nearest(idx, t1)
        if abs(idx[i0] - t0) > _MONTHLY_SLACK or abs(idx[i1] - t1) > _MONTHLY_SLACK:
            return None
    else:
        i0, i1 = int(idx.searchsorted(t0, "right")) - 1, int(idx.searchsorted(t1, "right")) - 1
        if i0 < 0 or t0 - idx[i0] > _DAILY_SLACK or t1 - idx[i1] > _DAILY_SLACK:
            return None
    levels = s.iloc[i0:i1 + 1]
    relative = levels / levels.iloc[0]
    # The start level is the value at the window start, whatever its own date; a monthly
    # observation past the end is the value at the end.
    dates = relative.index.where(relative.index <= t1, t1)
    relative.index = dates.where(np.arange(dates.size) > 0, t0)
    relative = relative[~relative.index.duplicated(keep="last")]
    return WindowPath(key, relative, levels, coarse, tuple(warnings))


def _peak_to_trough(values: np.ndarray) -> tuple[float, int, int]:
    """Max drawdown (positive) of ``values`` with its peak and trough positions."""
    peak = np.maximum.accumulate(values)
    dd = 1.0 - values / peak
    trough = int(np.argmax(dd))
    return float(dd[trough]), int(np.argmax(values[: trough + 1])), trough


def _level(v: float) -> str:
    return f"{v:,.2f}" if abs(v) >= 10 else f"{v:.4f}"       # index points vs FX rates


def _reference(market: Market, scenario: Scenario, key: str, label: str) -> str:
    wp = window_path(market.prices(key), scenario.start, scenario.end, key) if market.has(key) else None
    if wp is None:
        return f"{label}: no bundled data covers the window"
    lv = wp.levels
    dd, p, t = _peak_to_trough(lv.to_numpy(dtype=float))
    move = (f"peak-to-trough {-dd:+.2%} ({_level(lv.iloc[p])} on {lv.index[p]:%Y-%m-%d} to "
            f"{_level(lv.iloc[t])} on {lv.index[t]:%Y-%m-%d})" if dd > 0 else "no decline")
    coarse = ", monthly observations" if wp.coarse else ""
    return f"{label}: {move}; over the window {lv.iloc[-1] / lv.iloc[0] - 1:+.2%}{coarse}"


def _bundled() -> Market:
    return MarketData.bundled()


def scenario_library(market: Market | None = None) -> list[ScenarioInfo]:
    """Every scenario of :data:`LIBRARY`, its reference moves computed from the market data."""
    market = market or _bundled()
    return [ScenarioInfo(id=s.id, name=s.name, start=s.start, end=s.end, description=s.description,
                         reference="; ".join(_reference(market, s, k, label) for k, label in s.references))
            for s in LIBRARY]


# --- replay ------------------------------------------------------------------------------------
def _resolve(ids: list[str]) -> list[Scenario]:
    by_id = {s.id: s for s in LIBRARY}
    if "all" in ids:
        return list(LIBRARY)
    known = ", ".join(by_id)
    details = [{"loc": ["scenarios", i], "msg": f"unknown scenario '{x}'; known: all, {known}",
                "type": "value_error"} for i, x in enumerate(ids) if x not in by_id]
    if details:
        raise InvalidRequest(f"{len(details)} unknown scenario id{'s' if len(details) > 1 else ''}", details)
    return [by_id[x] for x in dict.fromkeys(ids)]


def _candidates(market: Market, symbol: str, exposure: str, proxy: str | None) -> list[tuple[str, bool]]:
    """Series keys to try, in order, each with whether it is a proxy."""
    keys: list[tuple[str, bool]] = [(symbol, False)]
    if proxy:
        keys.append((proxy, True))
    default = market.default_proxy(exposure, symbol)
    if default:
        keys.append((default, True))
    # Then every documented proxy of the exposure, best first, until one reaches the window.
    keys += [(k, True) for k in DEFAULT_PROXIES.get(exposure, ())]
    # A daily series that ends too early may have a monthly twin that reaches the window.
    keys = [kp for k, p in keys for kp in ((k, p), (f"{k}@monthly", p))]
    seen: dict[str, bool] = {}
    for k, p in keys:
        if k not in seen and market.has(k):
            seen[k] = p
    return list(seen.items())


class _Series:
    """Prices and resolution by key, read once per :func:`replay_scenarios` call."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._seen: dict[str, tuple[pd.Series, bool]] = {}

    def get(self, key: str) -> tuple[pd.Series, bool]:
        if key not in self._seen:
            prices = self.market.prices(key)
            self._seen[key] = (prices, is_coarse(prices))
        return self._seen[key]


def _holding_path(book: _Series, scenario: Scenario, symbol: str, exposure: str,
                  proxy: str | None) -> tuple[WindowPath | None, bool]:
    for key, proxied in _candidates(book.market, symbol, exposure, proxy):
        prices, coarse = book.get(key)
        wp = window_path(prices, scenario.start, scenario.end, key, coarse=coarse)
        if wp is not None:
            return wp, proxied
    return None, False


def replay_scenarios(portfolio: Portfolio, scenario_ids: list[str], market: Any = None) -> list[ScenarioResult]:
    """Replay scenarios on the portfolio as it stands (buy and hold, current weights).

    Parameters
    ----------
    scenario_ids : list of str
        Ids of :data:`LIBRARY`, in the order wanted; ``['all']`` replays every scenario.
    market : MarketData, optional
        Defaults to the bundled data.

    Raises
    ------
    InvalidRequest
        Unknown ids, each at ``['scenarios', i]``.
    """
    chosen = _resolve(list(scenario_ids))
    book = _Series(market or _bundled())
    return [_replay(portfolio, s, book) for s in chosen]


def _replay(portfolio: Portfolio, scenario: Scenario, book: _Series) -> ScenarioResult:
    total = portfolio.total_value
    span = f"{scenario.start}..{scenario.end}"
    cash_weight = portfolio.cash / total if total > 0 else 0.0
    impacts: list[dict[str, Any]] = []
    paths: dict[str, pd.Series] = {}
    warnings: list[str] = []
    for h in portfolio.holdings:
        w = h.value / total if total > 0 else 0.0
        exposure = h.effective_exposure
        row = {"symbol": h.symbol, "weight": w, "series": None, "proxied": False, "covered": False,
               "asset_return": None, "contribution": None}
        if exposure == "cash":
            cash_weight += w
            impacts.append({**row, "series": "cash", "covered": True, "asset_return": 0.0})
            continue
        wp, proxied = _holding_path(book, scenario, h.symbol, exposure, h.proxy)
        if wp is None:
            warnings.append(f"{h.symbol} ({w:.1%} of the portfolio): no data and no {exposure} proxy "
                            f"covers {span}; it is left out of the figures")
            impacts.append(row)
            continue
        paths[h.symbol] = wp.relative
        warnings += list(wp.warnings)
        if proxied:
            warnings.append(f"{h.symbol}: no own data for {span}, replayed on {wp.key} ({exposure} proxy)")
        if wp.coarse:
            first, last = wp.levels.index[0], wp.levels.index[-1]
            what = h.symbol if wp.key == h.symbol else f"{h.symbol}: {wp.key}"
            warnings.append(f"{what} is monthly, read at {first:%Y-%m-%d} and {last:%Y-%m-%d} "
                            "(the observations nearest the window ends); moves within a month are not seen"
                            + ("; the window is shorter than that resolution" if first == last else ""))
        impacts.append({**row, "series": wp.key, "proxied": proxied, "covered": True,
                        "asset_return": float(wp.relative.iloc[-1] - 1.0)})
    return _combine(portfolio, scenario, impacts, paths, cash_weight, warnings)


def _combine(portfolio: Portfolio, scenario: Scenario, impacts: list[dict[str, Any]],
             paths: dict[str, pd.Series], cash_weight: float, warnings: list[str]) -> ScenarioResult:
    """Buy and hold: value_t = cash + sum_i w_i * relative_i,t over the covered part, scaled to 1."""
    covered = cash_weight + sum(r["weight"] for r in impacts if r["covered"] and r["series"] != "cash")
    uncovered = [r["symbol"] for r in impacts if not r["covered"]]
    if uncovered and covered > 0:
        warnings.append(f"the figures describe the covered {covered:.1%} of the portfolio; "
                        f"{', '.join(uncovered)} left out")
    if paths and covered > 0:
        rel = pd.DataFrame(paths).sort_index().ffill().fillna(1.0)
        weights = np.array([next(r["weight"] for r in impacts if r["symbol"] == c) for c in rel.columns])
        value = rel.to_numpy() @ weights + cash_weight
        value /= value[0]                       # = covered weight: the path starts at exactly 1
        dates = rel.index
    else:
        if covered == 0:
            warnings.append("no holding has data for this window: nothing to replay")
        dates, value = pd.DatetimeIndex([scenario.start, scenario.end]), np.ones(2)
    for r in impacts:
        if r["covered"]:
            r["contribution"] = r["weight"] * r["asset_return"] / covered if covered > 0 else 0.0
    portfolio_return = float(value[-1] - 1.0)
    return ScenarioResult(
        id=scenario.id, name=scenario.name, start=scenario.start, end=scenario.end,
        portfolio_return=portfolio_return,
        max_drawdown=_peak_to_trough(np.r_[1.0, value])[0],
        loss_value=-portfolio_return * covered * portfolio.total_value,
        assets=[AssetScenarioImpact(**r) for r in impacts],
        path=SeriesPoint(dates=[d.date() for d in dates], values=value.tolist()),
        proxied=[r["symbol"] for r in impacts if r["proxied"]], uncovered=uncovered,
        warnings=list(dict.fromkeys(warnings)),
    )
