"""Market data: the bundled series and user price files, returns and alignment (METRICS.md).

The public door for everything market-data related; the work is split by concern:

* :mod:`engine.market_store` — :class:`MarketData`, the catalogue of price series by key;
* :mod:`engine.alignment` — returns, business-day alignment, frequencies;
* :mod:`engine.holding_history` — a portfolio's aligned :class:`ReturnsFrame`, benchmarks;
* :mod:`engine.price_files` — parsing the user's CSV/XLSX price files;
* :mod:`engine.sample_portfolios` — the bundled sample portfolios.
"""

from __future__ import annotations

from engine.holding_history import (
    HistorySource,
    history_returns,
    portfolio_returns,
    resolve_sources,
    series_returns_like,
)
from engine.market_store import DEFAULT_PROXIES, MONTHLY_SUFFIX, MarketData
from engine.sample_portfolios import load_sample_portfolio, sample_portfolio_summaries

__all__ = [
    "DEFAULT_PROXIES",
    "MONTHLY_SUFFIX",
    "HistorySource",
    "MarketData",
    "history_returns",
    "load_sample_portfolio",
    "portfolio_returns",
    "resolve_sources",
    "sample_portfolio_summaries",
    "series_returns_like",
]
