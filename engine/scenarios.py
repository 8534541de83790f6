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
from engine.schemas import Portfolio, ScenarioInfo, ScenarioResult, SeriesPoint

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


def _nearest(days: np.ndarray, when: np.datetime64) -> int:
    i = int(days.searchsorted(when))
    if i == 0:
        return 0
    if i == len(days):
        return i - 1
    return i if days[i] - when < when - days[i - 1] else i - 1


def is_coarse(prices: pd.Series) -> bool:
    """Whether a series is monthly (or coarser): read at nearest observations, not daily closes."""
    positive = prices.index[prices.to_numpy() > 0]
    return infer_frequency(positive)[0] not in ("daily", "unknown")


def _clean(prices: pd.Series) -> pd.Series:
    s = prices.dropna()
    return s if s.index.is_monotonic_increasing else s.sort_index()


def window_path(prices: pd.Series, start: dt.date, end: dt.date, key: str = "", *,
                coarse: bool | None = None) -> WindowPath | None:
    """Read ``prices`` through ``[start, end]``; ``None`` when the series does not cover it.

    Daily data covers a window when it has an observation at most 7 days before each end; the
    start level is the last observation on or before ``start``. Monthly (or coarser) data is
    read at the observations nearest each end, at most 31 days away. Non-positive prices (WTI on
    2020-04-20) are not levels a holding can be valued at: they are skipped with a warning.
    ``coarse`` (from :func:`is_coarse`) may be passed to save inferring it again.
    """
    s = _clean(prices)
    return _window(s, s.index.to_numpy(), s.to_numpy(dtype=float), start, end, key,
                   is_coarse(s) if coarse is None else coarse)


def _window(s: pd.Series, days: np.ndarray, values: np.ndarray, start: dt.date, end: dt.date, key: str,
            coarse: bool) -> WindowPath | None:
    """:func:`window_path` on a clean series ``s`` and its ``days``/``values`` arrays (read once)."""
    t0, t1 = (np.datetime64(d, "D").astype(days.dtype) for d in (start, end))
    slack, daily = _MONTHLY_SLACK.to_timedelta64(), _DAILY_SLACK.to_timedelta64()
    pos = np.arange(days.searchsorted(t0 - slack), days.searchsorted(t1 + slack, "right"))
    bad = values[pos] <= 0
    warnings = []
    if bad.any():
        listed = ", ".join(f"{pd.Timestamp(days[i]):%Y-%m-%d} ({values[i]:g})" for i in pos[bad])
        warnings.append(f"{key}: non-positive price on {listed} skipped as a data-quality problem")
        pos = pos[~bad]
    if pos.size == 0:
        return None
    d = days[pos]
    if coarse:
        i0, i1 = _nearest(d, t0), _nearest(d, t1)
        if abs(d[i0] - t0) > slack or abs(d[i1] - t1) > slack:
            return None
    else:
        i0, i1 = int(d.searchsorted(t0, "right")) - 1, int(d.searchsorted(t1, "right")) - 1
        if i0 < 0 or t0 - d[i0] > daily or t1 - d[i1] > daily:
            return None
    used = pos[i0:i1 + 1]
    level = values[used]
    levels = pd.Series(level, index=pd.DatetimeIndex(days[used], name=s.index.name), name=s.name)
    # The start level is the value at the window start, whatever its own date; a monthly
    # observation past the end is the value at the end.
    dates = np.minimum(d[i0:i1 + 1], t1)
    dates[0] = t0
    last = np.r_[dates[1:] != dates[:-1], True]        # dates ascend: keep the last of equals
    relative = pd.Series((level / level[0])[last], index=pd.DatetimeIndex(dates[last], name=s.index.name),
                         name=s.name)
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


def _candidates(market: Market, symbol: str, exposure: str, proxy: str | None) -> tuple[tuple[str, bool], ...]:
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
    return tuple(seen.items())


def _monthly_note(wp: WindowPath) -> str:
    """The monthly-resolution note after the holding's name (``SYM`` or ``SYM: KEY``)."""
    first, last = wp.levels.index[0], wp.levels.index[-1]
    return (f" is monthly, read at {first:%Y-%m-%d} and {last:%Y-%m-%d} (the observations nearest the "
            "window ends); moves within a month are not seen"
            + ("; the window is shorter than that resolution" if first == last else ""))


@dataclass(frozen=True)
class _Resolved:
    """One candidate list in one window: the series used (``None``: uncovered) and what it says."""

    wp: WindowPath | None
    proxied: bool = False
    asset_return: float | None = None
    note: str = ""


class _Book:
    """What one :func:`replay_scenarios` call reads once: each series (cleaned, with its
    resolution) and each holding's candidate list, holdings grouped by identical lists."""

    def __init__(self, market: Market, portfolio: Portfolio) -> None:
        self.market = market
        self._series: dict[str, tuple[pd.Series, np.ndarray, np.ndarray, bool]] = {}
        self._paths: dict[tuple[str, dt.date, dt.date], WindowPath | None] = {}
        self.total = total = portfolio.total_value
        self.weights = np.array([h.value / total if total > 0 else 0.0 for h in portfolio.holdings])
        self.exposures = [h.effective_exposure for h in portfolio.holdings]
        self.is_cash = np.array([e == "cash" for e in self.exposures], dtype=bool)
        groups: dict[tuple[tuple[str, bool], ...], int] = {}
        self.group = np.array([-1 if cash else groups.setdefault(_candidates(market, h.symbol, e, h.proxy), len(groups))
                               for h, e, cash in zip(portfolio.holdings, self.exposures, self.is_cash, strict=True)],
                              dtype=np.intp)
        self.candidate_lists = list(groups)

    def path(self, key: str, scenario: Scenario) -> WindowPath | None:
        """``key`` read through the scenario's window, once per key and window."""
        at = (key, scenario.start, scenario.end)
        if at not in self._paths:
            if key not in self._series:
                s = _clean(self.market.prices(key))
                self._series[key] = (s, s.index.to_numpy(), s.to_numpy(dtype=float), is_coarse(s))
            s, days, values, coarse = self._series[key]
            self._paths[at] = _window(s, days, values, scenario.start, scenario.end, key, coarse)
        return self._paths[at]

    def resolve(self, scenario: Scenario) -> list[_Resolved]:
        """Per candidate list: the first series covering the window (all uncovered: ``None``)."""
        found = [next(((wp, p) for k, p in candidates if (wp := self.path(k, scenario)) is not None), None)
                 for candidates in self.candidate_lists]
        return [_Resolved(wp, p, float(wp.relative.iloc[-1] - 1.0), _monthly_note(wp) if wp.coarse else "")
                if wp else _Resolved(None) for wp, p in (f or (None, False) for f in found)]


def replay_scenarios(portfolio: Portfolio, scenario_ids: list[str], market: Any = None) -> list[ScenarioResult]:
    """Replay scenarios on the portfolio as it stands (buy and hold, current weights).

    Each holding's series is resolved once per window for all holdings sharing its candidate
    list, and each series' path is read once per window, so the cost grows with the number of
    distinct series, not of holdings.

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
    book = _Book(market or _bundled(), portfolio)
    return [_replay(portfolio, s, book) for s in chosen]


def _holding_warnings(portfolio: Portfolio, scenario: Scenario, book: _Book, resolved: list[_Resolved]) -> list[str]:
    """Per holding, in portfolio order: uncovered, data-quality, proxy and monthly-resolution notes."""
    span = f"{scenario.start}..{scenario.end}"
    warnings: list[str] = []
    for h, w, exposure, g in zip(portfolio.holdings, book.weights.tolist(), book.exposures, book.group.tolist(),
                                 strict=True):
        if g < 0:
            continue
        r = resolved[g]
        if r.wp is None:
            warnings.append(f"{h.symbol} ({w:.1%} of the portfolio): no data and no {exposure} proxy "
                            f"covers {span}; it is left out of the figures")
            continue
        warnings += r.wp.warnings
        if r.proxied:
            warnings.append(f"{h.symbol}: no own data for {span}, replayed on {r.wp.key} ({exposure} proxy)")
        if r.note:
            warnings.append((h.symbol if r.wp.key == h.symbol else f"{h.symbol}: {r.wp.key}") + r.note)
    return warnings


def _replay(portfolio: Portfolio, scenario: Scenario, book: _Book) -> ScenarioResult:
    resolved = book.resolve(scenario)
    warnings = _holding_warnings(portfolio, scenario, book, resolved)
    cash, g = book.is_cash, book.group
    # Per holding from its group; the trailing entry is read by cash holdings (group -1).
    series = np.array([r.wp.key if r.wp else None for r in resolved] + ["cash"], dtype=object)[g]
    has_data = np.array([r.wp is not None for r in resolved] + [True], dtype=bool)[g]
    proxied = np.array([r.proxied for r in resolved] + [False], dtype=bool)[g]
    returns = np.array([r.asset_return if r.wp else np.nan for r in resolved] + [0.0])[g]
    total, w = book.total, book.weights
    cash_weight = (portfolio.cash / total if total > 0 else 0.0) + float(w[cash].sum())
    covered = cash_weight + float(w[has_data & ~cash].sum())
    contribution = w * returns / covered if covered > 0 else np.where(has_data, 0.0, np.nan)
    symbols = [h.symbol for h in portfolio.holdings]
    uncovered = [s for s, ok in zip(symbols, has_data.tolist(), strict=True) if not ok]
    if uncovered and covered > 0:
        warnings.append(f"the figures describe the covered {covered:.1%} of the portfolio; "
                        f"{', '.join(uncovered)} left out")
    dates, value = _value_path(scenario, book, resolved, covered, cash_weight, warnings)
    portfolio_return = float(value[-1] - 1.0)
    assets = [{"symbol": s, "weight": wi, "series": k, "proxied": p, "covered": ok,
               "asset_return": r if ok else None, "contribution": c if ok else None}
              for s, wi, k, p, ok, r, c in zip(symbols, w.tolist(), series.tolist(), proxied.tolist(),
                                               has_data.tolist(), returns.tolist(), contribution.tolist(), strict=True)]
    return ScenarioResult(
        id=scenario.id, name=scenario.name, start=scenario.start, end=scenario.end,
        portfolio_return=portfolio_return,
        max_drawdown=_peak_to_trough(np.r_[1.0, value])[0],
        loss_value=-portfolio_return * covered * total,
        assets=assets,
        path=SeriesPoint(dates=[d.date() for d in dates], values=value.tolist()),
        proxied=[s for s, p in zip(symbols, proxied.tolist(), strict=True) if p], uncovered=uncovered,
        warnings=list(dict.fromkeys(warnings)),
    )


def _value_path(scenario: Scenario, book: _Book, resolved: list[_Resolved], covered: float,
                cash_weight: float, warnings: list[str]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Buy and hold: value_t = cash + sum_k W_k * relative_k,t over the covered part, scaled to 1,
    where W_k sums the weights of the holdings replayed on series k."""
    key_of = [r.wp.key if r.wp else None for r in resolved]
    keys = list(dict.fromkeys(k for k in key_of if k is not None))
    if not keys or covered <= 0:
        if covered == 0:
            warnings.append("no holding has data for this window: nothing to replay")
        return pd.DatetimeIndex([scenario.start, scenario.end]), np.ones(2)
    column = np.array([keys.index(k) if k is not None else -1 for k in key_of] + [-1], dtype=np.intp)[book.group]
    summed = np.bincount(column[column >= 0], weights=book.weights[column >= 0], minlength=len(keys))
    paths = {r.wp.key: r.wp.relative for r in resolved if r.wp}
    dates, rel = _aligned([paths[k] for k in keys])
    value = rel @ summed + cash_weight
    return dates, value / value[0]              # = covered weight: the path starts at exactly 1


def _aligned(paths: list[pd.Series]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The paths on the union of their dates, each carried forward (1 before its first date)."""
    own = [(s.index.to_numpy(), s.to_numpy()) for s in paths]
    days = np.unique(np.concatenate([d for d, _ in own]))
    rel = np.ones((days.size, len(own)))
    for j, (d, v) in enumerate(own):
        at = d.searchsorted(days, "right") - 1
        rel[at >= 0, j] = v[at[at >= 0]]
    return pd.DatetimeIndex(days), rel
