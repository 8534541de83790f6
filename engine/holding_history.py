"""A portfolio's aligned return history (the :class:`ReturnsFrame` risk and stress work on).

Each holding gets the history of, in order: its ``proxy`` if set; its own symbol if the
market data holds it; nothing (a 0-return column) if its exposure is cash; the USD value
of its currency (``EUR_CASH`` -> ``EURUSD``) if it is foreign cash; else the default proxy of
its exposure (METRICS.md), reported in ``proxies`` with a warning; else it is *uncovered*
(a 0-return column, reported, with a warning). Histories are then aligned as METRICS.md says
(:mod:`engine.alignment`), cut at ``portfolio.as_of`` and to ``lookback_years``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from engine.alignment import (
    FREQUENCIES,
    PERIODS_PER_YEAR,
    Grid,
    align_grids,
    frequency_of_periods,
    grid_arrays,
    nonpositive_warning,
    period_labels,
    previous_label,
    price_returns,
    resample_warning,
    returns_arrays,
    series_on_grid,
    short_window_warning,
    target_frequency,
)
from engine.errors import DataError, InsufficientData
from engine.market_store import MarketData
from engine.returns_frame import ReturnsFrame
from engine.schemas import AssetHistory, Holding, Portfolio


@dataclass(frozen=True)
class HistorySource:
    """Where one holding's history comes from: a series key, or None (cash, or uncovered).

    ``proxied``: the key is not the holding's own symbol. ``warning``: what the advisor is told.
    """

    key: str | None
    proxied: bool = False
    uncovered: bool = False
    warning: str | None = None


def _own_source(i: int, h: Holding, market: MarketData) -> HistorySource | None:
    """The holding's user-set proxy or own series, if any (no window needed to decide)."""
    if h.proxy is not None:
        if not market.has(h.proxy):
            msg = f"holding '{h.symbol}': unknown proxy series '{h.proxy}'"
            raise DataError(msg, details=[{"loc": ["portfolio", "holdings", i, "proxy"], "msg": msg,
                                           "type": "data_error"}])
        key = market.info(h.proxy).key
        return HistorySource(key, proxied=key.upper() != h.symbol.upper())
    if market.has(h.symbol):
        return HistorySource(market.info(h.symbol).key)
    if h.effective_exposure == "cash":
        return HistorySource(None)
    return None


class _DefaultProxies:
    """``market.default_proxy(exposure, symbol, end=end)`` for one ``end``, asked once per exposure
    (per symbol only for FX, the one exposure whose proxy depends on the symbol): thousands of
    holdings share a handful of answers."""

    def __init__(self, market: MarketData, end: date | None) -> None:
        self.market, self.end = market, end
        self._seen: dict[tuple[str, str], str | None] = {}

    def __call__(self, exposure: str, symbol: str) -> str | None:
        at = (exposure, symbol if exposure == "fx" else "")
        if at not in self._seen:
            self._seen[at] = self.market.default_proxy(exposure, symbol, end=self.end)
        return self._seen[at]


def _fallback_source(h: Holding, market: MarketData, proxies: _DefaultProxies, base: str) -> HistorySource:
    exposure = h.effective_exposure
    if h.asset_class == "cash" and exposure == "fx":
        ccy = market.currency_of(h.symbol)
        if ccy is None and base in h.symbol.upper():
            return HistorySource(None)  # cash in the base currency
        key = proxies("fx", h.symbol)
        if key is not None:
            return HistorySource(key, proxied=True)
    else:
        key = proxies(exposure, h.symbol)
        if key is not None:
            name = market.info(key).name
            return HistorySource(key, proxied=True, warning=(
                f"{h.symbol}: no price history of its own; {key} ({name}) stands in as the default "
                f"{exposure.replace('_', ' ')} proxy."))
    return HistorySource(None, uncovered=True, warning=(
        f"{h.symbol}: no price history and no usable proxy for its {exposure.replace('_', ' ')} exposure; "
        f"treated as cash (0 return) and reported as uncovered."))


def resolve_sources(portfolio: Portfolio, market: MarketData, *, window_end: date | None = None,
                    ) -> list[HistorySource]:
    """The history source of every holding, in portfolio order.

    A default proxy must span ``window_end``; by default that is the earliest of
    ``portfolio.as_of`` and the last dates of the holdings' own (or user-set proxy) series.
    Scenario replays pass the end of their window instead.
    """
    own = [_own_source(i, h, market) for i, h in enumerate(portfolio.holdings)]
    if window_end is None:
        ends = [market.info(s.key).end for s in own if s is not None and s.key is not None]
        if portfolio.as_of is not None:
            ends.append(portfolio.as_of)
        end = min(ends) if ends else None
    else:
        end = window_end
    proxies = _DefaultProxies(market, end)
    return [s if s is not None else _fallback_source(h, market, proxies, portfolio.base_currency)
            for s, h in zip(own, portfolio.holdings, strict=True)]


def _capped(prices: pd.Series, as_of: date | None, frequency: str = "daily") -> pd.Series:
    """Prices known at ``as_of``. A monthly observation (e.g. GOLD's monthly average, dated the
    1st) describes its whole month, so it is used only once that month has ended."""
    if as_of is None:
        return prices
    days = prices.index.to_numpy().astype("datetime64[D]")
    if frequency in FREQUENCIES and frequency != "daily":
        days = period_labels(days, frequency)
    return prices.iloc[: int(np.searchsorted(days, np.datetime64(as_of, "D"), side="right"))]


@dataclass(frozen=True)
class _Prepared:
    """One series' returns on the analysis grid, and what its data-quality warning needs."""

    grid: Grid
    days: np.ndarray
    values: np.ndarray
    ok: np.ndarray


def _prepare(key: str, market: MarketData, as_of: date | None, target: str) -> _Prepared:
    """One series on the ``target`` grid, cut at ``as_of``: built once per market data instance
    (the series never change), so later requests naming the same symbol skip the pandas work."""
    return market.derived(("prepared", key, as_of, target), lambda: _build_prepared(key, market, as_of, target))


def _build_prepared(key: str, market: MarketData, as_of: date | None, target: str) -> _Prepared:
    prices = _capped(market.prices(key), as_of, market.info(key).frequency)
    days = prices.index.to_numpy().astype("datetime64[D]")
    values = prices.to_numpy()
    r_days, r, ok = returns_arrays(days, values)
    positive = np.flatnonzero(values > 0)
    start = days[positive[0]] if positive.size else None
    prepared = _Prepared(grid_arrays(r_days, r, market.info(key).frequency, target, start), days, values, ok)
    for shared in (prepared.grid[0], prepared.grid[1], days, values, ok):
        shared.setflags(write=False)  # kept and shared between requests: never written
    return prepared


def _quality_warnings(prepared: dict[str, _Prepared], dates: np.ndarray, frequency: str) -> list[str]:
    """Non-positive-price warnings, only for series whose excluded steps fall in the window."""
    out = []
    before, last = previous_label(dates[0], frequency), dates[-1]
    for key, p in prepared.items():
        if p.ok.all():
            continue
        excluded = p.days[1:][~p.ok]
        if ((excluded > before) & (excluded <= last)).any():
            out.append(nonpositive_warning(key, p.days, p.values, p.ok))
    return [w for w in out if w]


def _lookback_cutoff(end: pd.Timestamp, years: float) -> pd.Timestamp:
    months = years * 12
    if abs(months - round(months)) < 1e-9:
        return end - pd.DateOffset(months=round(months))
    return end - pd.Timedelta(days=round(years * 365.25))


def _no_window(keys: list[str], market: MarketData, as_of: date | None) -> InsufficientData:
    spans = ", ".join(f"{k} {market.info(k).start}..{min(market.info(k).end, as_of or date.max)}" for k in keys)
    return InsufficientData(f"fewer than 2 common returns: the histories do not overlap enough ({spans})")


def portfolio_returns(portfolio: Portfolio, *, history: AssetHistory | None = None,
                      lookback_years: float | None = None, periods_per_year: int | None = None,
                      market: MarketData | None = None) -> ReturnsFrame:
    """Aligned simple returns of every holding, on the common window (METRICS.md).

    Parameters
    ----------
    history : AssetHistory, optional
        Caller-supplied, undated returns used instead of the market data (see
        :func:`history_returns`).
    lookback_years : float, optional
        Keep only this many years before the end of the common window.
    periods_per_year : int, optional
        Replaces the P inferred from the dates.
    market : MarketData, optional
        Defaults to :meth:`MarketData.bundled`; pass one with user series to use them.

    Raises
    ------
    InsufficientData
        No holding has a history, or fewer than 2 common returns remain.
    DataError
        A holding names an unknown proxy.
    """
    if history is not None:
        return history_returns(portfolio, history, lookback_years=lookback_years, periods_per_year=periods_per_year)
    market = market or MarketData.bundled()
    sources = resolve_sources(portfolio, market)
    keys = list(dict.fromkeys(s.key for s in sources if s.key is not None))
    if not keys:
        raise InsufficientData("no holding has a price history (all are cash or uncovered)")
    window = _window(keys, market, portfolio.as_of, lookback_years)
    column = {k: j for j, k in enumerate(keys)}
    held = [(i, column[s.key]) for i, s in enumerate(sources) if s.key is not None]
    values = np.zeros((len(window.index), len(sources)))
    values[:, [i for i, _ in held]] = window.matrix[:, [j for _, j in held]]
    # A copy of the kept index (it shares the dates): renaming one frame's index must not rename the next.
    frame = pd.DataFrame(values, index=window.index.copy(), columns=[h.symbol for h in portfolio.holdings])
    warnings = [*window.warnings, *(s.warning for s in sources if s.warning)]
    if portfolio.base_currency != "USD":
        warnings.append(f"Market data is in USD; returns are USD returns, not {portfolio.base_currency} returns.")
    return ReturnsFrame(
        returns=frame, periods_per_year=periods_per_year or PERIODS_PER_YEAR[window.frequency],
        frequency=window.frequency,
        proxies={h.symbol: s.key for h, s in zip(portfolio.holdings, sources, strict=True) if s.proxied and s.key},
        uncovered=[h.symbol for h, s in zip(portfolio.holdings, sources, strict=True) if s.uncovered],
        warnings=[*warnings, *window.short],
    )


@dataclass(frozen=True)
class _Window:
    """The common window of some series: dates, their (T, N) returns (read-only), the frequency,
    the data warnings, and the short-window warning (empty, or one)."""

    index: pd.DatetimeIndex
    matrix: np.ndarray
    frequency: str
    warnings: tuple[str, ...]
    short: tuple[str, ...]


#: Windows of up to this many series are kept for reuse (larger ones cost more memory than
#: aligning them again costs time).
_CACHED_WINDOW_SERIES = 64


def _window(keys: list[str], market: MarketData, as_of: date | None, lookback_years: float | None) -> _Window:
    """The common window of ``keys``; the same symbols asked again reuse it (the series never change)."""
    def build() -> _Window:
        dates, matrix, frequency, warnings = _aligned(keys, market, as_of, lookback_years)
        matrix.setflags(write=False)
        index = pd.DatetimeIndex(dates.astype("datetime64[us]"), name="date")
        short = short_window_warning(index, frequency, PERIODS_PER_YEAR[frequency])
        return _Window(index, matrix, frequency, tuple(warnings), (short,) if short else ())

    if len(keys) > _CACHED_WINDOW_SERIES:
        return build()
    return market.derived(("window", tuple(keys), as_of, lookback_years), build)


def _aligned(keys: list[str], market: MarketData, as_of: date | None, lookback_years: float | None,
             ) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """Dates, (T, len(keys)) returns, frequency and data warnings of the common window."""
    freqs = {k: market.info(k).frequency for k in keys}
    frequency = target_frequency(freqs, None)
    prepared = {k: _prepare(k, market, as_of, frequency) for k in keys}
    dates, matrix = align_grids([p.grid for p in prepared.values()])
    if lookback_years is not None and len(dates):
        keep = dates > np.datetime64(_lookback_cutoff(pd.Timestamp(dates[-1]), lookback_years), "D")
        dates, matrix = dates[keep], matrix[keep]
    if len(dates) < 2:
        raise _no_window(keys, market, as_of)
    return dates, matrix, frequency, _quality_warnings(prepared, dates, frequency) + resample_warning(freqs, frequency)


def history_returns(portfolio: Portfolio, history: AssetHistory, *, lookback_years: float | None = None,
                    periods_per_year: int | None = None) -> ReturnsFrame:
    """A :class:`ReturnsFrame` from caller-supplied undated returns.

    Histories are aligned on their most recent observation and cut to the shortest one
    (RangeIndex). A holding missing from ``history`` gets a 0 column: as cash if it is cash
    (by class or exposure), otherwise reported as uncovered.
    """
    by_symbol = {k.upper(): v for k, v in history.returns.items()}
    present = {h.symbol: by_symbol[h.symbol.upper()] for h in portfolio.holdings
               if by_symbol.get(h.symbol.upper())}
    p = periods_per_year or history.periods_per_year
    n = min((len(v) for v in present.values()), default=0)
    if lookback_years is not None:
        n = min(n, max(2, math.ceil(lookback_years * p)))
    if n < 2:
        raise InsufficientData("fewer than 2 common returns in the supplied history")
    warnings, uncovered, columns = [], [], {}
    for h in portfolio.holdings:
        if h.symbol in present:
            columns[h.symbol] = np.asarray(present[h.symbol][-n:], dtype=np.float64)
            continue
        columns[h.symbol] = np.zeros(n)
        if h.asset_class != "cash" and h.effective_exposure != "cash":
            uncovered.append(h.symbol)
            warnings.append(f"{h.symbol}: no history supplied; treated as cash (0 return) and reported as uncovered.")
    if len({len(v) for v in present.values()}) > 1:
        warnings.append(f"Supplied histories differ in length; aligned on their most recent observation "
                        f"and cut to the shortest ({n} periods).")
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n))
    short = short_window_warning(frame.index, frequency_of_periods(p), p)
    return ReturnsFrame(returns=frame, periods_per_year=p, frequency=frequency_of_periods(p), proxies={},
                        uncovered=uncovered, warnings=[*warnings, *([short] if short else [])])


def series_returns_like(key: str, frame: ReturnsFrame, market: MarketData | None = None) -> pd.Series:
    """Returns of the series ``key`` on exactly ``frame.returns.index``, at the frame's frequency.

    A return of the series on a date the frame lacks (a day only its market traded) is
    compounded into the frame's next date, so the series' total over the window is kept.

    Raises
    ------
    InsufficientData
        The frame is undated, or the series does not cover the frame's whole window.
    """
    market = market or MarketData.bundled()
    info = market.info(key)
    index = frame.returns.index
    if not frame.dated or frame.frequency not in FREQUENCIES or len(index) == 0:
        raise InsufficientData(f"{info.key} cannot be aligned to an undated or empty history")
    if FREQUENCIES.index(info.frequency) > FREQUENCIES.index(frame.frequency):
        raise InsufficientData(f"{info.key} is {info.frequency}; it has no {frame.frequency} returns")
    prices = _capped(market.prices(info.key), index[-1].date(), info.frequency)
    r, _ = price_returns(prices)
    positive = prices.index[prices.to_numpy() > 0]
    labels, values, lo, hi = series_on_grid(r, info.frequency, frame.frequency, positive[0] if len(positive) else None)
    days = index.to_numpy().astype("datetime64[D]")
    if not (lo < days[0] and hi >= days[-1]):
        raise InsufficientData(f"{info.key} ({info.start}..{info.end}) does not cover the window "
                               f"{index[0].date()}..{index[-1].date()}")
    inside = (labels > previous_label(days[0], frame.frequency)) & (labels <= days[-1])
    rows = np.searchsorted(days, labels[inside], side="left")
    growth = np.ones(len(days))
    np.multiply.at(growth, rows, 1.0 + values[inside])
    out = growth - 1.0
    single = np.bincount(rows, minlength=len(days))[rows] == 1
    out[rows[single]] = values[inside][single]  # exact where nothing was compounded
    return pd.Series(out, index=index, name=info.key)
