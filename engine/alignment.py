"""Returns and the alignment of mixed histories, exactly as METRICS.md prescribes.

Every function here is pure: prices or returns in, returns (plus warnings an advisor reads)
out. Dates are handled as ``datetime64[D]`` numpy arrays internally so that fifty 20-year
daily histories align in a few milliseconds.

Conventions
-----------
* A return is dated at the later of its two prices and is defined only where both are > 0.
* Period labels are period-end dates: the business day itself (daily; Saturday and Sunday
  roll forward to Monday, so crypto weekend returns compound into Monday), the Friday
  (weekly), and the calendar month, quarter or year end.
* A period belongs to the analysis only when every series' return chain covers it fully:
  it starts after the period holding the series' first price and ends no later than the
  last period its prices reach (a daily series ending mid-month does not give a monthly
  return for that month). A series without a return in a period inside the window gets a
  0 return there; its next return spans the gap, so compounded totals are preserved.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "quarterly", "annual")
PERIODS_PER_YEAR: dict[str, int] = {"daily": 252, "weekly": 52, "monthly": 12, "quarterly": 4, "annual": 1}
#: Shortest length in days of one native period, to decide whether a series' last native
#: observation completes a coarser target period.
_NATIVE_DAYS: dict[str, int] = {"daily": 1, "weekly": 7, "monthly": 28, "quarterly": 90, "annual": 365}
_MAX_LISTED = 5

__all__ = [
    "FREQUENCIES",
    "PERIODS_PER_YEAR",
    "align_grids",
    "align_returns",
    "frequency_of_periods",
    "grid_arrays",
    "infer_frequency",
    "nonpositive_warning",
    "period_labels",
    "previous_label",
    "price_returns",
    "resample_warning",
    "returns_arrays",
    "series_on_grid",
    "short_window_warning",
    "target_frequency",
]


def _days(index: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Dates as ``datetime64[D]`` (time of day dropped)."""
    if isinstance(index, pd.DatetimeIndex):
        return index.to_numpy().astype("datetime64[D]")
    return np.asarray(index).astype("datetime64[D]")


def _to_index(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(days.astype("datetime64[us]"), name="date")


def _fmt(day: np.datetime64 | pd.Timestamp) -> str:
    return str(np.datetime64(day, "D"))


def _listed(days: list[str]) -> str:
    if len(days) <= _MAX_LISTED:
        return ", ".join(days)
    return f"{', '.join(days[:_MAX_LISTED])} and {len(days) - _MAX_LISTED} more"


def returns_arrays(days: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Array core of :func:`price_returns` (dates sorted, values finite).

    Returns the dates and values of the defined returns and the mask of kept steps
    (length ``len(values) - 1``).
    """
    prev, cur = values[:-1], values[1:]
    ok = (prev > 0) & (cur > 0)
    r = np.divide(cur, prev, out=np.zeros_like(cur), where=ok) - 1.0
    if ok.all():
        return days[1:], r, ok
    return days[1:][ok], r[ok], ok


def nonpositive_warning(name: str, days: np.ndarray, values: np.ndarray, ok: np.ndarray) -> str | None:
    """The data-quality warning for prices <= 0 (None when there are none)."""
    bad = np.flatnonzero(values <= 0)
    if not bad.size:
        return None
    shown = ", ".join(f"{_fmt(days[i])} ({values[i]:g})" for i in bad[:_MAX_LISTED])
    more = f" and {bad.size - _MAX_LISTED} more" if bad.size > _MAX_LISTED else ""
    excluded = [_fmt(d) for d in days[1:][~ok]]
    return (f"{name}: non-positive price on {shown}{more}; the returns into and out of it "
            f"({_listed(excluded)}) are excluded as a data-quality problem.")


def price_returns(prices: pd.Series) -> tuple[pd.Series, list[str]]:
    """Simple returns of one price series on its own calendar.

    Parameters
    ----------
    prices : Series
        Prices on a ``DatetimeIndex`` (sorted here if needed). NaN prices are treated as
        missing observations.

    Returns
    -------
    returns : Series
        ``p_t / p_{t-1} - 1`` dated at ``t``, only for steps whose two prices are both > 0;
        a step touching a non-positive price is left out, never turned into inf or NaN.
    warnings : list of str
        One data-quality warning naming the non-positive prices and the excluded dates.
    """
    s = prices if prices.index.is_monotonic_increasing else prices.sort_index()
    values = s.to_numpy(dtype=float)
    index = s.index
    finite = np.isfinite(values)
    if not finite.all():
        index, values = index[finite], values[finite]
    _, r, ok = returns_arrays(np.empty(len(values)), values)
    out = pd.Series(r, index=index[1:][ok], name=prices.name, dtype=float)
    name = str(prices.name) if prices.name is not None else "series"
    warning = nonpositive_warning(name, _days(index), values, ok)
    return out, [warning] if warning else []


def infer_frequency(index: pd.DatetimeIndex) -> tuple[str, int]:
    """Frequency name and periods per year from the median spacing of the dates.

    Median spacing up to 4 days is daily (business-day data, and calendar-day crypto that
    is aligned to business days before analysis), up to 10 weekly, up to 45 monthly, up to
    135 quarterly, beyond that annual. Fewer than two distinct dates give ``('unknown', 252)``.
    """
    days = np.unique(_days(pd.DatetimeIndex(index)))
    if days.size < 2:
        return "unknown", PERIODS_PER_YEAR["daily"]
    spacing = float(np.median(np.diff(days).astype(np.int64)))
    for name, limit in (("daily", 4), ("weekly", 10), ("monthly", 45), ("quarterly", 135)):
        if spacing <= limit:
            return name, PERIODS_PER_YEAR[name]
    return "annual", PERIODS_PER_YEAR["annual"]


def frequency_of_periods(periods_per_year: int) -> str:
    """The frequency name of a periods-per-year figure ('unknown' for any other number)."""
    for name, p in PERIODS_PER_YEAR.items():
        if p == periods_per_year:
            return name
    return "unknown"


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday)."""
    return (days.astype(np.int64) + 3) % 7


def period_labels(days: np.ndarray, frequency: str) -> np.ndarray:
    """The period-end label (``datetime64[D]``) of each date at ``frequency``."""
    days = np.asarray(days, dtype="datetime64[D]")
    if frequency == "daily":
        wd = _weekday(days)
        return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0)).astype("timedelta64[D]")
    if frequency == "weekly":
        return days + ((4 - _weekday(days)) % 7).astype("timedelta64[D]")
    months = days.astype("datetime64[M]")
    if frequency == "monthly":
        return (months + 1).astype("datetime64[D]") - 1
    if frequency == "quarterly":
        m = months.astype(np.int64)
        return ((m - m % 3 + 3).astype("datetime64[M]")).astype("datetime64[D]") - 1
    if frequency == "annual":
        return (days.astype("datetime64[Y]") + 1).astype("datetime64[D]") - 1
    raise ValueError(f"unknown frequency '{frequency}'")


def _last_label_complete(last: np.datetime64, native: str, target: str) -> bool:
    """Whether a series whose last observation is ``last`` covers that target period to its end."""
    label = period_labels(np.array([last]), target)[0]
    if native == "daily":
        # Business days of the period left after the last observation; one is tolerated at
        # coarse frequencies for a period that ends on a market holiday (e.g. Good Friday).
        last_bday = np.busday_offset(label, 0, roll="backward")
        missing = int(np.busday_count(last + 1, last_bday + 1)) if last_bday > last else 0
        return missing <= (0 if target == "daily" else 1)
    if native == target:
        return True
    native_end = period_labels(np.array([last]), native)[0]
    return bool(native_end + _NATIVE_DAYS[native] > label)


def _compound_by_label(labels: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compound returns that share a label (labels sorted); exact pass-through when unique."""
    if labels.size < 2:
        return labels, r
    change = labels[1:] != labels[:-1]
    if change.all():
        return labels, r
    first = np.concatenate(([0], np.flatnonzero(change) + 1))
    return labels[first], np.multiply.reduceat(1.0 + r, first) - 1.0


def target_frequency(frequencies: Mapping[str, str], target: str | None) -> str:
    """The analysis frequency: ``target`` if given (never finer than the data), else the coarsest."""
    for key, f in frequencies.items():
        if f not in FREQUENCIES:
            raise ValueError(f"unknown frequency '{f}' for '{key}'")
    coarsest = max(frequencies.values(), key=FREQUENCIES.index, default="daily")
    if target is None:
        return coarsest
    if target not in FREQUENCIES:
        raise ValueError(f"unknown frequency '{target}'")
    if FREQUENCIES.index(target) < FREQUENCIES.index(coarsest):
        raise ValueError(f"cannot analyse {coarsest} data at {target} frequency")
    return target


Grid = tuple[np.ndarray, np.ndarray, np.datetime64, np.datetime64]


def grid_arrays(days: np.ndarray, r: np.ndarray, native: str, target: str,
                start: np.datetime64 | None) -> Grid:
    """One series on the target grid: labels, compounded returns, and the (exclusive) lower
    and (inclusive) upper label bounds of the periods it covers completely.

    ``days`` are the (sorted) ``datetime64[D]`` dates of the returns ``r``; ``start`` the
    date of the series' first price, if known.
    """
    if days.size == 0:
        return days, np.empty(0), np.datetime64("9999-12-31"), np.datetime64("0001-01-01")
    labels, values = _compound_by_label(period_labels(days, target), r)
    if start is not None:
        lo = period_labels(np.array([start], dtype="datetime64[D]"), target)[0]
    elif native == target and native != "daily":
        lo = labels[0] - 1  # a native return is a whole period of its own
    else:
        lo = labels[0]  # unknown first price: its first period may be partial
    hi = labels[-1] if _last_label_complete(days[-1], native, target) else labels[-1] - 1
    return labels, values, lo, hi


def series_on_grid(r: pd.Series, native: str, target: str, start: object | None) -> Grid:
    """:func:`grid_arrays` for a return Series (``start``: any date-like or None)."""
    first = None if start is None else np.datetime64(pd.Timestamp(start), "D")
    return grid_arrays(_days(r.index), r.to_numpy(dtype=float), native, target, first)


def align_grids(grids: list[Grid]) -> tuple[np.ndarray, np.ndarray]:
    """Common-window dates and the (T, N) return matrix of already-gridded series.

    The union calendar is built on a day bitmap over the window, so placing each series
    is a gather, not a search.
    """
    if not grids:
        return np.empty(0, dtype="datetime64[D]"), np.zeros((0, 0))
    lo = max(g[2] for g in grids)
    hi = min(g[3] for g in grids)
    if hi <= lo:
        return np.empty(0, dtype="datetime64[D]"), np.zeros((0, len(grids)))
    base = lo.astype(np.int64) + 1
    seen = np.zeros(int(hi.astype(np.int64) - base) + 1, dtype=bool)
    spans = []
    for labels, _, _, _ in grids:
        a, b = np.searchsorted(labels, [lo, hi], side="right")
        spans.append((a, b, labels[a:b].astype(np.int64) - base))
        seen[spans[-1][2]] = True
    row = np.cumsum(seen) - 1
    matrix = np.zeros((int(seen.sum()), len(grids)))
    for j, ((a, b, k), (_, values, _, _)) in enumerate(zip(spans, grids, strict=True)):
        matrix[row[k], j] = values[a:b]
    return (np.flatnonzero(seen) + base).astype("datetime64[D]"), matrix


def resample_warning(frequencies: Mapping[str, str], target: str) -> list[str]:
    """Which series were sampled at coarser period ends, and because of which."""
    finer = [k for k, f in frequencies.items() if f != target]
    if not finer:
        return []
    coarse = [k for k, f in frequencies.items() if f == target]
    because = f" because {', '.join(coarse)} {'is' if len(coarse) == 1 else 'are'} {target}" if coarse else ""
    return [f"{', '.join(finer)} sampled at {target} period ends{because}: the analysis uses the "
            f"coarsest frequency present."]


def align_returns(
    returns: Mapping[str, pd.Series],
    *,
    frequencies: Mapping[str, str],
    starts: Mapping[str, object] | None = None,
    target: str | None = None,
) -> tuple[pd.DataFrame, str, int, list[str]]:
    """Align per-series returns on one calendar at the coarsest frequency present.

    Parameters
    ----------
    returns : mapping of column name -> Series
        Simple returns on each series' own calendar (see :func:`price_returns`).
    frequencies : mapping of column name -> str
        Native frequency of each series ('daily', 'weekly', 'monthly', 'quarterly', 'annual').
    starts : mapping of column name -> date, optional
        Date of each series' first (positive) price. The period holding it is incomplete
        and is left out. Without it the first return's period is left out too, unless the
        series is already at the target frequency (a native period return is whole).
    target : str, optional
        Analyse at this frequency instead of the coarsest present (it may not be finer).

    Returns
    -------
    frame : DataFrame, shape (T, N)
        Columns in the order of ``returns``; index = period-end dates (business days for
        daily data) of the common window where every series has data; 0 where a series has
        no return in a period of the window. Empty (T = 0) when the series do not overlap.
    frequency : str
    periods_per_year : int
    warnings : list of str
    """
    freqs = {k: frequencies[k] for k in returns}
    target = target_frequency(freqs, target)
    starts = starts or {}
    grids = [series_on_grid(r, freqs[k], target, starts.get(k)) for k, r in returns.items()]
    union, matrix = align_grids(grids)
    frame = pd.DataFrame(matrix, index=_to_index(union), columns=list(returns))
    return frame, target, PERIODS_PER_YEAR[target], resample_warning(freqs, target)


def previous_label(label: np.datetime64, frequency: str) -> np.datetime64:
    """The label of the period before the one labelled ``label``."""
    if frequency == "daily":
        return np.busday_offset(label, -1, roll="forward")
    if frequency == "weekly":
        return label - 7
    if frequency == "monthly":
        return label.astype("datetime64[M]").astype("datetime64[D]") - 1
    if frequency == "quarterly":
        return (label.astype("datetime64[M]") - 2).astype("datetime64[D]") - 1
    return label.astype("datetime64[Y]").astype("datetime64[D]") - 1


def short_window_warning(index: pd.Index, frequency: str, periods_per_year: int) -> str | None:
    """A warning when the returns cover less than one year, else None.

    A dated window covers from the period before its first return to its last return; an
    undated one covers ``len / periods_per_year`` years.
    """
    n = len(index)
    if isinstance(index, pd.DatetimeIndex) and n and frequency in FREQUENCIES:
        before = previous_label(np.datetime64(index[0], "D"), frequency)
        covered_to = pd.Timestamp(before) + pd.DateOffset(years=1)
        if pd.Timestamp(index[-1]) >= covered_to:
            return None
        span = f"{_fmt(before)} to {_fmt(index[-1])}"
    elif n >= periods_per_year:
        return None
    else:
        span = f"{n} periods at {periods_per_year} per year"
    return f"The common data window is shorter than one year ({span}); risk figures rest on little history."
