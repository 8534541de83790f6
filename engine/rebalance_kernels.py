"""Vectorised kernels of the rebalancer: greedy budget fills, water-filling and lot rounding.

Every function works on float arrays of shape ``(n,)`` (one entry per holding) and returns new
arrays; none mutates its inputs. Money is in the portfolio's base currency.
"""

from __future__ import annotations

import numpy as np

#: Slack used when a ratio that is mathematically an integer comes out as 2.9999999999.
LOT_EPS = 1e-9


def greedy_fill(desired: np.ndarray, priority: np.ndarray, budgets: list[tuple[float, np.ndarray]]
                ) -> tuple[np.ndarray, int | None]:
    """Fill ``desired`` amounts in order of decreasing ``priority`` until a budget runs out.

    Parameters
    ----------
    desired : (n,) array of non-negative amounts wanted.
    priority : (n,) array; larger is served first (ties keep input order).
    budgets : list of ``(budget, rate)``; taking ``x_i`` consumes ``x_i * rate_i`` of ``budget``.

    Returns
    -------
    filled : (n,) array, ``0 <= filled <= desired``; a prefix in priority order is filled in
        full, the marginal item partially, the rest not at all.
    bound : index into ``budgets`` of the budget that stopped the fill, or ``None``.
    """
    order = np.argsort(-priority, kind="stable")
    want = desired[order]
    filled_sorted = want.copy()
    stop = len(want)
    limiting: int | None = None
    for j, (budget, rate) in enumerate(budgets):
        use = want * rate[order]
        cum = np.cumsum(use)
        over = np.nonzero(cum > budget * (1 + 1e-12) + 1e-12)[0]
        if over.size and over[0] < stop:
            stop, limiting = int(over[0]), j
    if limiting is None:
        return desired.copy(), None
    filled_sorted[stop + 1:] = 0.0
    # The marginal item gets what every budget still allows.
    room = min(
        (budget - float(np.sum(want[:stop] * rate[order][:stop]))) / rate[order][stop]
        for budget, rate in budgets
    )
    filled_sorted[stop] = min(max(room, 0.0), want[stop])
    filled = np.empty_like(desired)
    filled[order] = filled_sorted
    return filled, limiting


def water_fill(excess: np.ndarray, cap: np.ndarray, amount: float) -> np.ndarray:
    """Spread ``amount`` so the largest ``excess`` is reduced first, to a common level.

    Finds the level ``lam`` with ``sum(clip(excess - lam, 0, cap)) = amount`` and returns
    ``clip(excess - lam, 0, cap)``. With ``excess`` = value above target, this is the sell
    that leaves every position touched at the same (minimal) absolute drift; ``cap`` stops
    at what can be sold (or, for buys, at the target). Never returns more than ``amount``.
    """
    cap = np.maximum(cap, 0.0)
    if amount <= 0 or not np.any(cap > 0):
        return np.zeros_like(excess)
    if amount >= cap.sum():
        return cap.copy()
    hi = float(np.max(excess))
    lo = float(np.min(excess - cap))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.clip(excess - mid, 0.0, cap).sum() > amount:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, abs(hi)):
            break
    return np.clip(excess - hi, 0.0, cap)


def floor_lots(value: np.ndarray, lot_value: np.ndarray) -> np.ndarray:
    """Whole lots not exceeding ``value`` (lots as float integers)."""
    return np.floor(value / lot_value + LOT_EPS * (value > 0))


def ceil_lots(value: np.ndarray, lot_value: np.ndarray) -> np.ndarray:
    """Whole lots covering ``value``; a ratio within ``LOT_EPS`` of an integer is that integer."""
    return np.ceil(value / lot_value - LOT_EPS)


def nearest_lots(value: np.ndarray, lot_value: np.ndarray) -> np.ndarray:
    """Whole lots nearest to ``value`` (halves round to even, as numpy does)."""
    return np.rint(value / lot_value)
