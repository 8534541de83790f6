"""The bundled price series (and user series) by key: loaded lazily, once, and kept in memory.

What the catalogue holds
------------------------
Only *holdable prices*: the series of ``prices_daily.csv``, ``prices_monthly.csv`` and
``derived_monthly.csv``. Yields (``rates_*.csv``), the Shiller table and the Fama/French
factor returns are not prices an advisor can hold and are left out (``has('UST_10Y')`` is
False); the derived total-return indices built from them are in.

Keys: a symbol is its own key. A symbol that exists both daily and monthly (the four FX
rates) is ``USDEUR`` for the daily series and ``USDEUR@monthly`` for the monthly one.
For every ``USDxxx`` rate there is also a derived inverse ``xxxUSD`` (USD per unit of the
foreign currency, ``derived=True``; ``EURUSD@monthly`` for the monthly one), so a foreign
cash holding has a USD history. Lookups are case-insensitive.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from engine.alignment import infer_frequency
from engine.errors import DataError
from engine.resources import market_dir
from engine.schemas import DATA_CLASS_MAP, SeriesInfo

PRICE_FILES: dict[str, tuple[str, str]] = {
    # file -> (symbol column, value column)
    "prices_daily.csv": ("symbol", "close"),
    "prices_monthly.csv": ("symbol", "value"),
    "derived_monthly.csv": ("series", "value"),
}
MONTHLY_SUFFIX = "@monthly"
#: Values derived from the series (e.g. returns on an analysis grid) kept per instance; the
#: least recently used is dropped beyond this many (each is a few hundred kB at most).
DERIVED_CACHE_SIZE = 128

_T = TypeVar("_T")

#: Default proxies per economic exposure (METRICS.md), best first; the first one that
#: covers the analysis window is used.
DEFAULT_PROXIES: dict[str, tuple[str, ...]] = {
    "equity": ("SPY", "SPX", "SPX_TR_SHILLER_DERIVED"),
    "fixed_income": ("AGG", "UST10Y_TR_DERIVED"),
    "commodity": ("WTI", "GOLD"),
    "crypto": ("BTC", "BTC_BITSTAMP"),
}


@dataclass(frozen=True)
class _Spec:
    """How to produce one catalogue entry."""

    key: str
    symbol: str
    meta: Mapping[str, str]  # the series.csv row (or the user's description)
    file: str | None  # bundled file, None for user series
    invert: bool = False  # 1 / the file's series (derived inverse FX)


class _BundledFiles:
    """Parses each bundled file once, on first use; thread-safe (GUI workers share it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, pd.Series]] = {}

    def series(self, file: str, symbol: str) -> pd.Series:
        with self._lock:
            if file not in self._cache:
                self._cache[file] = self._parse(file)
            return self._cache[file][symbol]

    def _parse(self, file: str) -> dict[str, pd.Series]:
        sym_col, val_col = PRICE_FILES[file]
        path = self.root / file
        try:
            df = pd.read_csv(path, usecols=["date", sym_col, val_col], parse_dates=["date"],
                             dtype={sym_col: str, val_col: "float64"})
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read bundled market data: {exc}", file=file) from exc
        out: dict[str, pd.Series] = {}
        for symbol, part in df.groupby(sym_col, sort=False):
            s = pd.Series(part[val_col].to_numpy(dtype=np.float64), index=pd.DatetimeIndex(part["date"], name="date"),
                          name=str(symbol)).dropna()
            if not s.index.is_monotonic_increasing:
                s = s.sort_index()
            if s.index.has_duplicates:
                raise DataError(f"duplicate dates in series {symbol}", file=file)
            out[str(symbol)] = s
        return out


def _bundled_specs(root: Path) -> list[_Spec]:
    meta = pd.read_csv(root / "series.csv", dtype=str, keep_default_na=False)
    rows = [r for r in meta.to_dict("records") if r["file"] in PRICE_FILES]
    daily = {r["symbol"] for r in rows if r["frequency"] == "daily"}
    specs: list[_Spec] = []
    for r in rows:
        clash = r["frequency"] != "daily" and r["symbol"] in daily
        specs.append(_Spec(r["symbol"] + (MONTHLY_SUFFIX if clash else ""), r["symbol"], r, r["file"]))
    for spec in list(specs):
        sym = spec.symbol
        if spec.meta["asset_class"] == "fx" and len(sym) == 6 and sym.startswith("USD"):
            ccy = sym[3:]
            suffix = spec.key[len(sym):]
            meta_inv = {**spec.meta, "symbol": f"{ccy}USD", "asset_class": "cash_fx", "currency": "USD",
                        "units": f"USD per {ccy}",
                        "name": f"DERIVED: USD per 1 {ccy} (= 1 / {spec.key}); the USD value of {ccy} cash",
                        "source": f"computed as 1 / {spec.key}: {spec.meta['source']}"}
            specs.append(_Spec(f"{ccy}USD{suffix}", f"{ccy}USD", meta_inv, spec.file, invert=True))
    return specs


class MarketData:
    """Price series by key: the bundled data plus, optionally, the user's own series.

    Immutable from the outside: :meth:`with_user_series` returns a new instance that
    shares the parsed bundled files. Use :meth:`bundled` for the shared default instance.
    """

    def __init__(self, root: Path, *, _files: _BundledFiles | None = None,
                 _user: Mapping[str, tuple[pd.Series, str]] | None = None) -> None:
        self._root = root
        self._files = _files or _BundledFiles(root)
        self._user: dict[str, tuple[pd.Series, str]] = dict(_user or {})
        user_keys = {k.upper() for k in self._user}
        self._specs: dict[str, _Spec] = {s.key: s for s in _bundled_specs(root) if s.key.upper() not in user_keys}
        for key, (_, source) in self._user.items():
            self._specs[key] = _Spec(key, key, {"source": source}, None)
        self._lookup = {k.upper(): k for k in self._specs}
        self._infos: dict[str, SeriesInfo] = {}
        self._derived: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    @functools.lru_cache(maxsize=1)
    def bundled(cls) -> MarketData:
        """The shared instance over ``resources/market`` (files parsed on first use, once)."""
        return cls(market_dir())

    # --- lookup ---------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self._specs)

    def has(self, key: str) -> bool:
        return key.upper() in self._lookup

    def _key(self, key: str) -> str:
        try:
            return self._lookup[key.upper()]
        except KeyError:
            raise DataError(f"unknown series '{key}'",
                            details=[{"loc": ["series", key], "msg": f"unknown series '{key}'",
                                      "type": "data_error"}]) from None

    def prices(self, key: str) -> pd.Series:
        """Prices of ``key``: ascending ``DatetimeIndex``, float64, ``name=key``, no NaN, unique dates."""
        spec = self._specs[self._key(key)]
        if spec.file is None:
            return self._user[spec.key][0]
        s = self._files.series(spec.file, spec.symbol[3:] + spec.symbol[:3] if spec.invert else spec.symbol)
        if spec.invert:
            s = 1.0 / s
        return s.rename(spec.key)

    def latest_price(self, key: str, as_of: date | None = None) -> float:
        """The last price on or before ``as_of`` (the last price when None)."""
        s = self.prices(key)
        n = len(s) if as_of is None else int(s.index.searchsorted(pd.Timestamp(as_of), side="right"))
        if n == 0:
            raise DataError(f"series '{key}' has no price on or before {as_of}")
        return float(s.iloc[n - 1])

    def derived(self, key: Hashable, build: Callable[[], _T]) -> _T:
        """``build()``, computed once per ``key`` for this instance and then reused.

        For values that depend only on this instance's series (which never change), such as a
        series' returns on an analysis grid: a request that names the same symbols again skips
        the pandas work. ``build`` runs outside the lock (two threads may both build the same
        value; either result is the same), and the least recently used value is dropped beyond
        :data:`DERIVED_CACHE_SIZE`. Callers must treat the value as read-only.
        """
        with self._lock:
            if key in self._derived:
                self._derived.move_to_end(key)
                return self._derived[key]  # type: ignore[return-value]
        value = build()
        with self._lock:
            self._derived[key] = value
            while len(self._derived) > DERIVED_CACHE_SIZE:
                self._derived.popitem(last=False)
        return value

    # --- catalogue ------------------------------------------------------------------------
    def info(self, key: str) -> SeriesInfo:
        """Catalogue row of ``key`` (raises :class:`DataError` for an unknown key)."""
        k = self._key(key)
        with self._lock:
            cached = self._infos.get(k)
        if cached is None:
            cached = self._build_info(self._specs[k])
            with self._lock:
                self._infos[k] = cached
        return cached

    def catalogue(self) -> list[SeriesInfo]:
        """One row per loadable price series, bundled first (series.csv order), then the user's."""
        return [self.info(k) for k in self._specs]

    def _build_info(self, spec: _Spec) -> SeriesInfo:
        s = self.prices(spec.key)
        if spec.file is None:
            return SeriesInfo(
                key=spec.key, symbol=spec.symbol, name=spec.key, data_class="user", asset_class=None,
                exposure=None, frequency=infer_frequency(s.index)[0], start=s.index[0].date(),
                end=s.index[-1].date(), rows=len(s), currency="", units="price", source=spec.meta["source"],
                license="user-supplied", derived=False, last_price=float(s.iloc[-1]),
            )
        m = spec.meta
        kind, exposure = DATA_CLASS_MAP.get(m["asset_class"], (None, None))
        return SeriesInfo(
            key=spec.key, symbol=spec.symbol, name=m["name"], data_class=m["asset_class"], asset_class=kind,
            exposure=exposure, frequency=m["frequency"], start=s.index[0].date(), end=s.index[-1].date(),
            rows=len(s), currency=m["currency"], units=m["units"], source=m["source"], license=m["license"],
            derived=spec.invert or spec.file == "derived_monthly.csv", last_price=float(s.iloc[-1]),
        )

    # --- user series ----------------------------------------------------------------------
    def with_user_series(self, series: Mapping[str, pd.Series], source: str) -> MarketData:
        """A new instance that also holds ``series`` (e.g. from :func:`engine.price_files.load_price_file`).

        A user key equal to a bundled one (case-insensitively) replaces it in the new instance.
        Raises :class:`DataError` for an empty series, a non-date index, duplicate dates or
        non-finite prices.
        """
        user = dict(self._user)
        for key, s in series.items():
            name = str(key).strip()
            for existing in [k for k in user if k.upper() == name.upper()]:
                del user[existing]
            user[name] = (_clean_user_series(name, s, source), source)
        return MarketData(self._root, _files=self._files, _user=user)

    # --- proxies --------------------------------------------------------------------------
    def currency_of(self, symbol: str) -> str | None:
        """The foreign currency a symbol names (``EUR_CASH`` -> ``EUR``), among those with a USD rate."""
        codes = {s.symbol[:3] for s in self._specs.values() if s.invert}
        text = symbol.upper()
        hits = sorted((text.find(c), c) for c in codes if c in text)
        return hits[0][1] if hits else None

    def proxy_candidates(self, exposure: str, symbol: str = "") -> list[str]:
        """Default proxy keys for an exposure (METRICS.md), best first, that this data holds."""
        if exposure == "fx":
            ccy = self.currency_of(symbol)
            keys = (f"{ccy}USD", f"{ccy}USD{MONTHLY_SUFFIX}") if ccy else ()
        else:
            keys = DEFAULT_PROXIES.get(exposure, ())
        return [self._lookup[k.upper()] for k in keys if self.has(k)]

    def covers(self, key: str, end: date) -> bool:
        """Whether ``key`` has prices spanning ``end`` (a monthly point counts for its whole month)."""
        info = self.info(key)
        last = pd.Timestamp(info.end)
        if info.frequency != "daily":
            last = last + pd.offsets.MonthEnd(0)
        return pd.Timestamp(info.start) < pd.Timestamp(end) <= last

    def default_proxy(self, exposure: str, symbol: str = "", *, end: date | None = None) -> str | None:
        """The default proxy of METRICS.md: equity SPY, fixed income AGG (else UST10Y_TR_DERIVED),
        commodity WTI (else GOLD), FX the matching rate (from ``symbol``), crypto BTC; cash none.

        With ``end``, the first candidate whose prices span that date; without, the first.
        """
        candidates = self.proxy_candidates(exposure, symbol)
        if end is not None:
            candidates = [k for k in candidates if self.covers(k, end)]
        return candidates[0] if candidates else None


def _clean_user_series(name: str, s: pd.Series, source: str) -> pd.Series:
    if not isinstance(s.index, pd.DatetimeIndex):
        raise DataError(f"series '{name}' is not indexed by dates", file=source)
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(values) == 0:
        raise DataError(f"series '{name}' has no prices", file=source)
    if not np.isfinite(values).all():
        raise DataError(f"series '{name}' has missing or non-finite prices", file=source)
    out = pd.Series(values, index=s.index.rename("date"), name=name).sort_index()
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0].date()
        raise DataError(f"series '{name}' has the date {dup} twice", file=source)
    return out
