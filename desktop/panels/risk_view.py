"""What the charts need from engine results, computed off the GUI thread (pure numpy, no Qt).

A 5,000-holding risk report carries a 5,000 × 5,000 correlation matrix as nested lists and
5,001 contributions: turning those into arrays takes seconds in Python, so the controller's
worker does it (:func:`prepare_risk_view`) and the GUI thread only hands arrays to pyqtgraph.
:func:`top_categories` keeps a bar chart readable (and cheap to draw) when there are thousands
of categories.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.schemas.results import RiskReport, RiskSide, SeriesPoint

__all__ = ["BAR_LIMIT", "CappedCategories", "RiskView", "contribution_bars", "correlation_array",
           "dates_to_seconds", "prepare_risk_view", "top_categories"]


def dates_to_seconds(dates: Sequence[dt.date]) -> np.ndarray:
    """Dates as POSIX seconds at UTC midnight, the x unit of a ``DateAxisItem(utcOffset=0)``."""
    return np.asarray(dates, dtype="datetime64[D]").astype("datetime64[s]").astype(np.float64)

#: Bar charts with more categories than this show the largest ones and one "other (n)" bar.
BAR_LIMIT = 25


def contribution_bars(report: RiskReport) -> tuple[list[str], list[float], list[float]]:
    """Symbols and each side's share of volatility (``contribution_pct``), aligned by symbol.

    A symbol missing on one side is not held there, so its share is 0; an undefined share
    (zero volatility) is drawn as 0 as well. A symbol whose share is 0 on every side (cash)
    is left out: it would be an empty label.
    """
    sides = [report.before] + ([report.after] if report.after else [])
    symbols: list[str] = []
    seen: set[str] = set()  # a set, not ``in symbols``: 5,000 holdings would make this quadratic
    for side in sides:
        for c in side.contributions:
            if c.contribution_pct and c.symbol not in seen:
                seen.add(c.symbol)
                symbols.append(c.symbol)

    def shares(side: RiskSide | None) -> list[float]:
        by_symbol = {c.symbol: c.contribution_pct for c in side.contributions} if side else {}
        return [by_symbol.get(s) or 0.0 for s in symbols]

    return symbols, shares(report.before), shares(report.after)


def correlation_array(matrix: Sequence[Sequence[float | None]], block: int = 64) -> np.ndarray:
    """The engine's nested-list matrix as a float array, ``None`` (undefined) as NaN.

    Converted ``block`` rows at a time: one conversion of a 5,000 × 5,000 list would hold
    the GIL for a second, and the GUI thread needs it every few milliseconds.
    """
    n = len(matrix)
    out = np.empty((n, n))
    for start in range(0, n, block):
        rows = matrix[start:start + block]
        try:  # the common case, no undefined cell: one C-level conversion
            out[start:start + len(rows)] = np.array(rows, dtype=float).reshape(len(rows), n)
        except TypeError:
            out[start:start + len(rows)] = [[np.nan if v is None else v for v in row] for row in rows]
    return out


@dataclass(frozen=True)
class CappedCategories:
    """Bars to draw: ``labels[k]`` with ``series[s][k]``; ``index[k]`` is the original category
    (-1 for the "other" bar); ``n_other`` categories were summed into that bar (0: none)."""

    labels: list[str]
    series: list[np.ndarray]
    index: np.ndarray
    n_other: int
    n_total: int


def top_categories(labels: Sequence[str], series: Sequence[Sequence[float]], limit: int = BAR_LIMIT) -> CappedCategories:
    """All categories when there are at most ``limit + 1``; else the ``limit`` largest (by the
    largest absolute value over the series), largest first, and one bar "other (n)" holding the
    sum of the rest in each series (weights and shares of volatility add up)."""
    arrays = [np.asarray(s, dtype=float) for s in series]
    n = len(labels)
    if n <= limit + 1:
        return CappedCategories(list(labels), arrays, np.arange(n), 0, n)
    size = np.max(np.abs(np.vstack(arrays)), axis=0)
    keep = np.argsort(-size, kind="stable")[:limit]
    rest = np.ones(n, dtype=bool)
    rest[keep] = False
    n_other = n - limit
    shown = [*(labels[i] for i in keep), f"other ({n_other:,})"]
    capped = [np.append(a[keep], a[rest].sum()) for a in arrays]
    return CappedCategories(shown, capped, np.append(keep, -1), n_other, n)


#: A chart curve's x (POSIX seconds, or the period index without dates) and y, or None (no side).
Curve = tuple[np.ndarray, np.ndarray] | None


@dataclass(frozen=True)
class RiskView:
    """A risk report with its chart arrays ready: the correlation matrix (NaN = undefined), the
    contribution bars (symbols, current, post-trade), and the cumulative-return and drawdown
    curves by side ("before", "after"), so the GUI thread converts no dates."""

    report: RiskReport
    correlation: np.ndarray
    contributions: tuple[list[str], list[float], list[float]]
    cumulative: dict[str, Curve]
    drawdown: dict[str, Curve]


def _curve(series: SeriesPoint | None) -> Curve:
    if series is None or not series.values:
        return None
    x = dates_to_seconds(series.dates) if series.dates else np.arange(len(series.values), dtype=float)
    return x, np.asarray(series.values, dtype=float)


def prepare_risk_view(report: RiskReport) -> RiskView:
    sides = {"before": report.before, "after": report.after}
    return RiskView(report, correlation_array(report.correlation.matrix), contribution_bars(report),
                    cumulative={k: _curve(s.cumulative_return if s else None) for k, s in sides.items()},
                    drawdown={k: _curve(s.drawdown if s else None) for k, s in sides.items()})
