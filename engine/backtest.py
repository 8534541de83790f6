"""Backtests of rebalancing policies on the portfolio's real history, with costs.

How a policy is replayed
------------------------
* **Prices.** The portfolio's aligned returns (:func:`engine.market_data.portfolio_returns`,
  the analysis frequency and common window of METRICS.md) are compounded into one price path
  per holding, anchored so that it ends at the holding's own ``price`` on the last date of
  the history: for a holding priced from its own series that is the series' real (adjusted)
  price on every date. Price row 0 is the period end before the first return.
* **Start.** ``initial="targets"``: the initial value (default: the portfolio's value) is
  invested at the target weights in whole lots, through the rebalancer itself (no cost,
  no cap), the odd amounts staying as cash. ``initial="holdings"``: today's quantities and
  cash are held from the start.
* **Between decisions** quantities are constant and values drift with prices; cash earns 0.
* **At a decision** the portfolio as it stands (quantities, that day's prices, the policy's
  targets) goes through :func:`engine.rebalance.rebalance` with the request's policy, so bands,
  lots, turnover cap, minimum trade, reserve and costs are exactly the live code's. The new
  quantities and the residual cash (net of costs) are the rebalancer's own post-trade numbers,
  and the day's equity point is the post-trade value.
* **Decision dates.** Calendar and targets policies decide on the last date of each month,
  quarter or year in the data (a last, incomplete period does not count). Threshold policies
  check the bands on every date (or each period end of their ``frequency``) and rebalance on
  the first date any holding is out of band; the check is a vectorised copy of the
  rebalancer's band test, and the rebalancer still makes the decision.
* **AI targets.** ``targets_fn(date, returns)`` receives only the aligned returns dated on
  or before the decision date (a copy), never later data. It returns target weights by symbol
  (missing symbols get 0; they must sum to 1) or ``None`` to keep the strategic targets.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.alignment import period_labels, previous_label, short_window_warning
from engine.errors import Cancelled, InsufficientData, InvalidRequest
from engine.market_data import MarketData, portfolio_returns
from engine.rebalance import rebalance
from engine.rebalance_plan import WEIGHT_TOL, Book
from engine.returns_frame import ReturnsFrame
from engine.risk import compute_metrics
from engine.schemas import Band, Portfolio, RebalancePolicy, RebalanceResult, SeriesPoint
from engine.schemas.backtest import (
    BacktestPolicy,
    BacktestPolicyResult,
    BacktestRebalance,
    BacktestRequest,
    BacktestResult,
    default_policies,
)
from engine.schemas.portfolio import TARGET_SUM_TOLERANCE
from engine.schemas.results import DataWindow

TargetsFn = Callable[[dt.date, pd.DataFrame], "Mapping[str, float] | None"]
Progress = Callable[[float], None]
Cancel = Callable[[], bool]

__all__ = ["TargetsFn", "price_paths", "run_backtest"]

_CHUNK = 256


@dataclass(frozen=True)
class _Window:
    """Price paths of the backtest window and the point-in-time history behind them."""

    dates: np.ndarray  # datetime64[D], (T + 1,)
    prices: np.ndarray  # (T + 1, n)
    history: pd.DataFrame  # the full aligned returns; price row r is history row first + r - 1
    first: int
    frequency: str
    periods_per_year: int

    def date(self, row: int) -> dt.date:
        return self.dates[row].item()  # datetime64[D] -> datetime.date

    def returns_up_to(self, row: int) -> pd.DataFrame:
        return self.history.iloc[: self.first + row].copy()


@dataclass
class _Run:
    equity: np.ndarray
    events: list[BacktestRebalance] = field(default_factory=list)
    n_decisions: int = 0
    n_trades: int = 0
    fallbacks: int = 0


def price_paths(frame: ReturnsFrame, portfolio: Portfolio) -> tuple[np.ndarray, np.ndarray]:
    """Dates ``(T + 1,)`` and prices ``(T + 1, n)`` of each holding on the frame's dates.

    Row 0 is the period end before the first return; each path ends at the holding's price.
    """
    R = frame.returns.to_numpy(dtype=float)
    growth = np.vstack([np.ones((1, R.shape[1])), np.cumprod(1.0 + R, axis=0)])
    anchor = np.array([h.price for h in portfolio.holdings], dtype=float)
    days = frame.returns.index.to_numpy().astype("datetime64[D]")
    dates = np.concatenate([[previous_label(days[0], frame.frequency)], days])
    return dates, growth * (anchor / growth[-1])


def _window(frame: ReturnsFrame, portfolio: Portfolio, start: dt.date | None, end: dt.date | None,
            warnings: list[str]) -> _Window:
    dates, prices = price_paths(frame, portfolio)
    a = 0 if start is None else max(int(np.searchsorted(dates, np.datetime64(start, "D"), side="right")) - 1, 0)
    b = len(dates) - 1 if end is None else int(np.searchsorted(dates, np.datetime64(end, "D"), side="right")) - 1
    if start is not None and np.datetime64(start, "D") < dates[0]:
        warnings.append(f"start {start} is before the common window; the backtest starts on {dates[0]}")
    if end is not None and np.datetime64(end, "D") > dates[-1]:
        warnings.append(f"end {end} is after the common window; the backtest ends on {dates[-1]}")
    if b - a < 2:
        raise InsufficientData(f"the window {start or dates[0]}..{end or dates[-1]} holds fewer than 2 returns of "
                               f"the common history {dates[0]}..{dates[-1]}")
    return _Window(dates[a:b + 1], prices[a:b + 1], frame.returns, a, frame.frequency, frame.periods_per_year)


def _calendar_rows(dates: np.ndarray, frequency: str) -> np.ndarray:
    """Rows that close a month, quarter or year (row 0, the start, never does)."""
    labels = period_labels(dates, frequency)
    mask = np.zeros(len(dates), dtype=bool)
    mask[:-1] = labels[:-1] != labels[1:]
    mask[-1] = dates[-1] >= np.busday_offset(labels[-1], 0, roll="backward")
    mask[0] = False
    return mask


def _out_of_band(values: np.ndarray, cash: float, book: Book) -> np.ndarray:
    """Whether any holding is out of band, per row of ``values`` (k, n): the rebalancer's test."""
    total = values.sum(axis=1) + cash
    safe = np.where(total > 0, total, 1.0)
    scale = np.where(total > 0, np.maximum(total - book.reserve, 0.0) / safe, 0.0)
    current = values / safe[:, None]
    effective = book.target * scale[:, None]
    half = np.where(book.band_relative, book.band_width * effective, book.band_width)
    low, high = np.maximum(effective - half, 0.0), effective + half
    return ((current < low - WEIGHT_TOL) | (current > high + WEIGHT_TOL)).any(axis=1)


def _holding_portfolio(base: Portfolio, qty: np.ndarray, prices: np.ndarray, cash: float,
                       targets: np.ndarray, date: dt.date) -> Portfolio:
    """``base`` with new quantities, prices, cash and targets (already valid: no re-validation)."""
    holdings = [h.model_copy(update={"quantity": float(q), "price": float(p), "target_weight": float(w)})
                for h, q, p, w in zip(base.holdings, qty, prices, targets, strict=True)]
    return base.model_copy(update={"holdings": holdings, "cash": float(cash), "as_of": date})


def _applied(result: RebalanceResult) -> tuple[np.ndarray, float]:
    return np.array([t.post_trade_quantity for t in result.trades], dtype=float), float(result.totals.residual_cash)


def _targets_vector(raw: Mapping[str, Any], symbols: list[str], date: dt.date) -> np.ndarray:
    """Validated target weights in holding order from a targets function's answer."""
    column = {s.upper(): i for i, s in enumerate(symbols)}
    w = np.zeros(len(symbols))
    for key, value in raw.items():
        i = column.get(str(key).upper())
        v = float(value)
        problem = (f"unknown symbol '{key}'" if i is None else
                   f"weight {v!r} of '{key}' is not in [0, 1]" if not (math.isfinite(v) and 0.0 <= v <= 1.0) else None)
        if problem:
            raise InvalidRequest(f"targets on {date}: {problem}",
                                 [{"loc": ["targets", str(date), str(key)], "msg": problem, "type": "value_error"}])
        w[i] = v
    if abs(w.sum() - 1.0) > TARGET_SUM_TOLERANCE:
        msg = f"target weights sum to {w.sum():.6f}; they must sum to 1"
        raise InvalidRequest(f"targets on {date}: {msg}", [{"loc": ["targets", str(date)], "msg": msg,
                                                            "type": "value_error"}])
    return w


class _Policy:
    """One policy's decision rule: when to consult the rebalancer, and with which targets."""

    def __init__(self, spec: BacktestPolicy, policy: RebalancePolicy, base: Portfolio, win: _Window,
                 targets_fn: TargetsFn | None) -> None:
        self.spec, self.base, self.win, self.targets_fn = spec, base, win, targets_fn
        self.strategic = np.array([h.target_weight for h in base.holdings], dtype=float)
        self.symbols = [h.symbol for h in base.holdings]
        band = spec.band if spec.band is not None else (None if spec.kind == "threshold" else Band(width=0.0))
        self.rb_policy = policy if band is None else policy.model_copy(update={"band": band, "band_by_class": {}})
        self.book = Book.build(base, self.rb_policy)
        freq = spec.frequency or ("monthly" if spec.kind == "targets" else None)
        every = np.ones(len(win.dates), dtype=bool)
        every[0] = False
        self.rows = np.flatnonzero(_calendar_rows(win.dates, freq) if freq else every)
        self.path = [(np.datetime64(p.date, "D"), p.weights) for p in spec.target_path or []]

    def next_decision(self, start: int, qty: np.ndarray, cash: float) -> int | None:
        rows = self.rows[self.rows >= start]
        if self.spec.kind == "buy_and_hold" or rows.size == 0:
            return None
        if self.spec.kind != "threshold":
            return int(rows[0])
        for k in range(0, rows.size, _CHUNK):  # chunks: the next breach is usually near
            chunk = rows[k:k + _CHUNK]
            out = np.flatnonzero(_out_of_band(self.win.prices[chunk] * qty, cash, self.book))
            if out.size:
                return int(chunk[out[0]])
        return None

    def targets_at(self, row: int) -> tuple[np.ndarray, bool]:
        """Targets for the decision on ``row`` and whether the strategic ones were kept."""
        if self.spec.kind != "targets":
            return self.strategic, False
        date = self.win.date(row)
        if self.path:
            k = int(np.searchsorted([d for d, _ in self.path], self.win.dates[row], side="right")) - 1
            raw = self.path[k][1] if k >= 0 else None
        elif self.targets_fn is not None:
            raw = self.targets_fn(date, self.win.returns_up_to(row))
        else:
            raw = None
        if raw is None:
            return self.strategic, True
        return _targets_vector(raw, self.symbols, date), False


def _replay(rule: _Policy, qty: np.ndarray, cash: float, cancel: Cancel | None) -> _Run:
    win = rule.win
    run = _Run(np.empty(len(win.dates)))
    t = 0
    while t < len(win.dates):
        row = rule.next_decision(max(t, 1), qty, cash)
        stop = len(win.dates) if row is None else row
        run.equity[t:stop] = win.prices[t:stop] @ qty + cash
        if row is None:
            break
        if cancel is not None and cancel():
            raise Cancelled("backtest cancelled")
        targets, fell_back = rule.targets_at(row)
        date = win.date(row)
        result = rebalance(_holding_portfolio(rule.base, qty, win.prices[row], cash, targets, date), rule.rb_policy)
        run.n_decisions += 1
        run.fallbacks += fell_back
        if result.totals.n_trades:
            qty, cash = _applied(result)
            run.n_trades += result.totals.n_trades
            run.events.append(BacktestRebalance(date=date, turnover=result.totals.turnover,
                                                cost=result.totals.total_cost, n_trades=result.totals.n_trades))
        run.equity[row] = float(win.prices[row] @ qty) + cash
        t = row + 1
    return run


def _initial(request: BacktestRequest, win: _Window) -> tuple[np.ndarray, float]:
    """Quantities and cash at the start: today's, or the initial value invested at target."""
    p = request.portfolio
    if request.initial == "holdings":
        return np.array([h.quantity for h in p.holdings], dtype=float), float(p.cash)
    value = request.initial_value if request.initial_value is not None else p.total_value
    if value <= 0:
        raise InvalidRequest("the portfolio has no value to invest; give initial_value",
                             [{"loc": ["initial_value"], "msg": "required when the portfolio's value is 0",
                               "type": "missing"}])
    start = _holding_portfolio(p, np.zeros(len(p.holdings)), win.prices[0], value,
                               np.array([h.target_weight for h in p.holdings]), win.date(0))
    setup = request.policy.model_copy(update={
        "band": Band(width=0.0), "band_by_class": {}, "turnover_limit": None, "cost_bps": 0.0,
        "cost_bps_by_class": {}, "min_trade_value": 0.0})
    return _applied(rebalance(start, setup))


def _policy_result(rule: _Policy, run: _Run, win: _Window, risk_free_rate: float) -> BacktestPolicyResult:
    eq = run.equity
    returns = eq[1:] / eq[:-1] - 1.0
    metrics = compute_metrics(returns, risk_free_rate=risk_free_rate, periods_per_year=win.periods_per_year)
    years = (len(eq) - 1) / win.periods_per_year
    turnover = float(sum(e.turnover for e in run.events))
    warnings = []
    if run.fallbacks:
        warnings.append(f"{run.fallbacks} of {run.n_decisions} decisions had no AI targets; the strategic "
                        "targets were used")
    return BacktestPolicyResult(
        name=rule.spec.label, kind=rule.spec.kind,
        equity=SeriesPoint(dates=win.dates.tolist(), values=eq.tolist()),
        end_value=float(eq[-1]), total_return=float(eq[-1] / eq[0] - 1.0), cagr=metrics.cagr,
        volatility=metrics.volatility, max_drawdown=metrics.max_drawdown, metrics=metrics,
        total_turnover=turnover, annualised_turnover=turnover / years,
        total_costs=float(sum(e.cost for e in run.events)), n_rebalances=len(run.events),
        n_decisions=run.n_decisions, n_trades=run.n_trades, n_target_fallbacks=run.fallbacks,
        rebalances=run.events, warnings=warnings,
    )


def _frequency_warnings(specs: list[BacktestPolicy], frequency: str) -> list[str]:
    order = ("daily", "weekly", "monthly", "quarterly", "annual")
    slow = [s.label for s in specs if s.frequency and order.index(s.frequency) < order.index(frequency)]
    return [f"{', '.join(slow)}: the data is {frequency}, so decisions happen at most once per period"] if slow else []


def _check_targets(specs: list[BacktestPolicy], targets_fn: TargetsFn | None) -> None:
    for i, s in enumerate(specs):
        if s.kind == "targets" and s.target_path is None and targets_fn is None:
            msg = "a targets policy needs a target_path or a targets function"
            raise InvalidRequest(msg, [{"loc": ["policies", i, "target_path"], "msg": msg, "type": "missing"}])


def run_backtest(request: BacktestRequest | Mapping[str, Any], *, targets_fn: TargetsFn | None = None,
                 market: MarketData | None = None, progress: Progress | None = None,
                 cancel: Cancel | None = None) -> BacktestResult:
    """Replay each policy on the portfolio's history and measure it (see the module docstring).

    Parameters
    ----------
    request : BacktestRequest or a dict validated into one.
    targets_fn : callable ``(date, returns) -> {symbol: weight} | None``, optional
        The AI targets of every ``targets`` policy without a ``target_path``. ``returns`` holds
        the aligned returns dated up to and including ``date`` only.
    market : MarketData, optional
        Defaults to the bundled data; pass one with user series to use them.
    progress, cancel : callables, optional
        ``progress(done)`` after each policy; ``cancel()`` checked before each decision.

    Raises
    ------
    InvalidRequest, InsufficientData, DataError, Cancelled
    """
    from engine.service import validate

    request = validate(BacktestRequest, request)
    specs = request.policies or default_policies(with_targets=targets_fn is not None)
    _check_targets(specs, targets_fn)
    frame = portfolio_returns(request.portfolio, market=market)
    # The frame's short-window warning speaks of the whole common window; say it of the backtest's.
    warnings = [w for w in frame.warnings if w != short_window_warning(frame.returns.index, frame.frequency,
                                                                         frame.periods_per_year)]
    win = _window(frame, request.portfolio, request.start, request.end, warnings)
    short = short_window_warning(pd.DatetimeIndex(win.dates[1:].astype("datetime64[us]")), win.frequency,
                                 win.periods_per_year)
    warnings += [short.replace("common data window", "backtest window")] if short else []
    warnings += _frequency_warnings(specs, win.frequency)
    qty0, cash0 = _initial(request, win)
    results = []
    for i, spec in enumerate(specs):
        rule = _Policy(spec, request.policy, request.portfolio, win, targets_fn)
        results.append(_policy_result(rule, _replay(rule, qty0, cash0, cancel), win, request.risk_free_rate))
        if progress is not None:
            progress((i + 1) / len(specs))
    n = len(win.dates) - 1
    return BacktestResult(
        portfolio_name=request.portfolio.name, start=win.date(0), end=win.date(n),
        window=DataWindow(start=win.date(0), end=win.date(n), n_periods=n, frequency=win.frequency,
                          periods_per_year=win.periods_per_year),
        initial=request.initial, initial_value=float(win.prices[0] @ qty0 + cash0), policies=results,
        proxies=frame.proxies, uncovered=frame.uncovered, warnings=warnings,
    )
