"""The rebalancer's plan: from holdings arrays and a policy to whole-lot buys and sells.

See :mod:`engine.rebalance` for the semantics in words. This module holds the arithmetic:
one pass of ideal (unrounded) amounts, then rounding to lots, minimum trade value, a top-up
towards the binding budget, and a final funding/turnover check that trims buys if rounding
overshot. All arrays have shape ``(n,)``, one entry per holding, in portfolio order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.rebalance_kernels import LOT_EPS, ceil_lots, floor_lots, greedy_fill, nearest_lots, water_fill
from engine.schemas import DEFAULT_TRADE_UNIT, Portfolio, RebalancePolicy

WEIGHT_TOL = 1e-12
"""Weights this close to a band edge count as on it (in band)."""


@dataclass(frozen=True)
class Book:
    """A portfolio's holdings as arrays, with the policy's per-holding band and cost."""

    qty: np.ndarray
    price: np.ndarray
    target: np.ndarray
    unit: np.ndarray
    rate: np.ndarray  # cost as a fraction of trade value (bps / 1e4)
    bps: np.ndarray
    band_width: np.ndarray
    band_relative: np.ndarray  # bool
    cash: float
    reserve: float
    min_trade: float

    @classmethod
    def build(cls, portfolio: Portfolio, policy: RebalancePolicy) -> Book:
        hs = portfolio.holdings
        classes = [h.asset_class for h in hs]
        units = [h.trade_unit if h.trade_unit is not None else DEFAULT_TRADE_UNIT[c] for h, c in zip(hs, classes, strict=True)]
        bands = [policy.band_by_class.get(c, policy.band) for c in classes]
        bps = np.array([policy.cost_bps_by_class.get(c, policy.cost_bps) for c in classes], dtype=float)
        return cls(
            qty=np.array([h.quantity for h in hs], dtype=float),
            price=np.array([h.price for h in hs], dtype=float),
            target=np.array([h.target_weight for h in hs], dtype=float),
            unit=np.array(units, dtype=float),
            rate=bps / 1e4,
            bps=bps,
            band_width=np.array([b.width for b in bands], dtype=float),
            band_relative=np.array([b.kind == "relative" for b in bands]),
            cash=float(portfolio.cash),
            reserve=float(policy.cash_reserve),
            min_trade=float(policy.min_trade_value),
        )

    @property
    def value(self) -> np.ndarray:
        return self.qty * self.price

    @property
    def lot_value(self) -> np.ndarray:
        return self.unit * self.price

    @property
    def max_sell_lots(self) -> np.ndarray:
        """Whole lots held: the most that can be sold (a fractional remainder stays)."""
        return floor_lots(self.qty, self.unit)

    def max_raisable(self) -> float:
        """Cash a withdrawal could take: spare cash plus every sellable lot, net of costs."""
        sell_value = self.max_sell_lots * self.lot_value
        sell_value = np.where(sell_value >= max(self.min_trade, 1e-300), sell_value, 0.0)
        return self.cash - min(self.cash, self.reserve) + float(np.sum(sell_value * (1 - self.rate)))


@dataclass
class Weights:
    """Current weights, effective targets and bands, all fractions of ``total`` = V + cash flow."""

    total: float
    current: np.ndarray
    effective: np.ndarray
    low: np.ndarray
    high: np.ndarray
    in_band: np.ndarray

    @classmethod
    def of(cls, book: Book, total: float) -> Weights:
        investable = max(total - book.reserve, 0.0)
        scale = investable / total if total > 0 else 0.0
        current = book.value / total if total > 0 else np.zeros_like(book.value)
        effective = book.target * scale
        half = np.where(book.band_relative, book.band_width * effective, book.band_width)
        low, high = np.maximum(effective - half, 0.0), effective + half
        in_band = (current >= low - WEIGHT_TOL) & (current <= high + WEIGHT_TOL)
        return cls(total, current, effective, low, high, in_band)

    @property
    def drift(self) -> np.ndarray:
        return self.current - self.effective


@dataclass
class Plan:
    """Lots to buy and sell per holding, with why each amount is what it is."""

    buy_lots: np.ndarray
    sell_lots: np.ndarray
    desired_buy: np.ndarray  # ideal band-driven buy value (before budgets)
    desired_sell: np.ndarray  # ideal band-driven sell value
    deposit_buy: np.ndarray  # ideal buy value that invests the deposit
    raise_sell: np.ndarray  # ideal sell value that raises the withdrawal / refills cash
    cut_by_cap: np.ndarray  # bool: trade reduced or dropped by the turnover cap
    cut_by_cash: np.ndarray  # bool: buy reduced or dropped for lack of cash
    below_min: np.ndarray  # bool: trade dropped as smaller than the minimum trade value
    below_lot: np.ndarray  # bool: trade wanted but smaller than one lot
    trimmed: np.ndarray  # bool: buy cut by lots after rounding left cash short
    bound: list[str] = field(default_factory=list)
    shortfall: float = 0.0  # cash missing to meet the withdrawal after rounding

    def cash_after(self, book: Book, flow: float) -> float:
        buys = self.buy_lots * book.lot_value
        sells = self.sell_lots * book.lot_value
        return book.cash + flow + float(np.sum(sells * (1 - book.rate)) - np.sum(buys * (1 + book.rate)))


def ideal_band_trades(book: Book, w: Weights, to_edge: bool) -> tuple[np.ndarray, np.ndarray]:
    """Ideal buy and sell values that bring each out-of-band position to target or band edge.

    Back-to-target goals are set on the value left after the trades' own estimated costs, so
    the sells pay for the buys and their costs and the result lands on target, not just short.
    """
    sellable = book.max_sell_lots * book.lot_value

    def trades(goal_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        delta = np.where(w.in_band, 0.0, goal_value - book.value)
        return np.maximum(delta, 0.0), np.minimum(np.maximum(-delta, 0.0), sellable)

    if to_edge:
        return trades(np.clip(w.current, w.low, w.high) * w.total)
    buy, sell = trades(w.effective * w.total)
    for _ in range(4):  # fixed point of "value after costs"; converges geometrically (rate << 1)
        after_costs = w.total - float(np.sum((buy + sell) * book.rate))
        buy, sell = trades(book.target * max(after_costs - book.reserve, 0.0))
    return buy, sell


def plan_trades(book: Book, w: Weights, policy: RebalancePolicy, flow: float, turnover_base: float) -> Plan:
    """Whole-lot trades for one cash flow; see :mod:`engine.rebalance` for the rules."""
    n = book.qty.size
    cap = policy.turnover_limit * turnover_base if policy.turnover_limit is not None else np.inf
    raise_floor = min(book.cash, book.reserve)
    priority = np.abs(w.drift)
    want_buy, want_sell = ideal_band_trades(book, w, policy.rebalance_to == "band_edge")
    bound: list[str] = []

    # 1. Buys: band buys by largest drift, then the deposit, within the cap and the money that
    #    all band sells would bring (less the reserve and any withdrawal).
    funds = book.cash + flow - book.reserve + float(np.sum(want_sell * (1 - book.rate)))
    ones = np.ones(n)
    buy, which = greedy_fill(want_buy, priority, [(cap, ones), (max(funds, 0.0), 1 + book.rate)])
    cut_by_cap = (buy < want_buy) if which == 0 else np.zeros(n, bool)
    cut_by_cash = (buy < want_buy) if which == 1 else np.zeros(n, bool)
    cap_bound = which == 0
    deposit = np.zeros(n)
    if flow > 0:
        room_cash = (funds - float(np.sum(buy * (1 + book.rate)))) / (1 + float(book.rate.max()))
        room_cap = cap - float(buy.sum())
        gap = np.where(want_sell > 0, 0.0, np.maximum(w.effective * w.total - book.value - buy, 0.0))
        amount = min(flow, max(room_cash, 0.0), max(room_cap, 0.0))
        deposit = water_fill(gap, gap, amount)
        if room_cap < min(flow, room_cash, gap.sum()) - 1e-9:
            cap_bound = True
            cut_by_cap |= deposit < gap - 1e-9
    buy_total = buy + deposit

    # 2. Sells: what the buys and the withdrawal need. When the cap binds, only the sells that
    #    fund the capped buys happen (largest drift first) so proceeds do not sit idle.
    spend = float(np.sum(buy_total * (1 + book.rate)))
    floor_cash = book.reserve if spend > 0 else raise_floor
    need = max(spend + floor_cash - book.cash - flow, 0.0)
    sell = want_sell
    if cap_bound:
        sell, _ = greedy_fill(want_sell, priority, [(need, 1 - book.rate)])
        cut_by_cap |= sell < want_sell - 1e-9
    short = need - float(np.sum(sell * (1 - book.rate)))
    raise_sell = np.zeros(n)
    if short > 1e-9:
        room = np.where(buy_total > 0, 0.0, book.max_sell_lots * book.lot_value - sell)
        excess = book.value - sell - w.effective * w.total
        raise_sell = water_fill(excess, room, short / (1 - float(book.rate.max())))
    if cap_bound:
        bound.append("turnover_limit")
    if which == 1:
        bound.append("cash")
        if book.reserve > 0:
            bound.append("cash_reserve")
    plan = Plan(np.zeros(n), np.zeros(n), want_buy, want_sell, deposit, raise_sell, cut_by_cap,
                cut_by_cash, np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool), bound)
    _round(plan, book, buy_total, sell, raise_sell, policy.rebalance_to == "band_edge" or cap_bound)
    _top_up(plan, book, priority, cap, flow)
    _settle(plan, book, priority, cap, flow, floor_cash)
    return plan


def _round(plan: Plan, book: Book, buy: np.ndarray, sell: np.ndarray, raise_sell: np.ndarray,
           sells_fund: bool) -> None:
    """Ideal values to whole lots; drop trades under the minimum trade value."""
    lot = book.lot_value
    kmax = book.max_sell_lots
    plan.buy_lots = floor_lots(buy, lot)
    # Band sells go to the nearest lot (closest to target); sells that must fund something
    # (band edge, capped rebalance, withdrawal) round up so the money is there.
    band_k = ceil_lots(sell, lot) if sells_fund else nearest_lots(sell, lot)
    raising = raise_sell > 0
    k_sell = np.where(raising, ceil_lots(sell + raise_sell, lot), band_k)
    plan.sell_lots = np.minimum(np.maximum(k_sell, 0.0), kmax)
    wanted = (buy > 0) | (sell + raise_sell > 0)
    plan.below_lot = wanted & (plan.buy_lots == 0) & (plan.sell_lots == 0)
    if book.min_trade > 0:
        small_buy = (plan.buy_lots > 0) & (plan.buy_lots * lot < book.min_trade)
        small_sell = (plan.sell_lots > 0) & (plan.sell_lots * lot < book.min_trade)
        # A withdrawal sell below the minimum is raised to the minimum when enough is held.
        bump = small_sell & raising & (ceil_lots(np.full_like(lot, book.min_trade), lot) <= kmax)
        plan.sell_lots = np.where(bump, ceil_lots(np.full_like(lot, book.min_trade), lot), plan.sell_lots)
        small_sell &= ~bump
        plan.buy_lots[small_buy] = 0.0
        plan.sell_lots[small_sell] = 0.0
        plan.below_min = small_buy | small_sell
    if plan.below_lot.any():
        plan.bound.append("lot_size")
    if plan.below_min.any():
        plan.bound.append("min_trade_value")


def _top_up(plan: Plan, book: Book, priority: np.ndarray, cap: float, flow: float) -> None:
    """Add whole lots, largest drift first, where rounding down left room under a binding cap."""
    if "turnover_limit" not in plan.bound:
        return
    lot = book.lot_value
    goal = plan.desired_buy + plan.deposit_buy
    headroom = np.where(plan.sell_lots > 0, 0.0, floor_lots(goal, lot) - plan.buy_lots)
    spare_cap = cap - float(np.sum(plan.buy_lots * lot))
    spare_cash = plan.cash_after(book, flow) - book.reserve
    cost = lot * (1 + book.rate)
    order = np.argsort(-priority, kind="stable")
    # Spare room only shrinks, so a candidate that does not fit now never will: one pass.
    order = order[(headroom[order] >= 1) & (lot[order] <= spare_cap) & (cost[order] <= spare_cash)]
    for i in order.tolist():
        extra = min(headroom[i], np.floor(spare_cap / lot[i] + LOT_EPS), np.floor(spare_cash / cost[i] + LOT_EPS))
        if extra < 1 or (plan.buy_lots[i] + extra) * lot[i] < book.min_trade:
            continue
        plan.buy_lots[i] += extra
        spare_cap -= extra * lot[i]
        spare_cash -= extra * cost[i]


def _settle(plan: Plan, book: Book, priority: np.ndarray, cap: float, flow: float, floor_cash: float) -> None:
    """Trim buys (smallest drift first) until cash stays above its floor and the cap holds."""
    lot = book.lot_value
    tol = 1e-9 * max(1.0, book.cash + float(np.sum(book.value)))
    order = np.argsort(priority, kind="stable")
    for i in order[plan.buy_lots[order] > 0]:
        deficit = floor_cash - plan.cash_after(book, flow)
        over = float(np.sum(plan.buy_lots * lot)) - cap
        if deficit <= tol and over <= 0:
            break
        cut = max(np.ceil(max(deficit, 0.0) / (lot[i] * (1 + book.rate[i])) - LOT_EPS),
                  np.ceil(max(over, 0.0) / lot[i] - LOT_EPS))
        plan.buy_lots[i] = max(plan.buy_lots[i] - cut, 0.0)
        if plan.buy_lots[i] * lot[i] < book.min_trade:
            plan.buy_lots[i] = 0.0
        plan.trimmed[i] = True
    if plan.trimmed.any() and "lot_size" not in plan.bound:
        plan.bound.append("lot_size")
    plan.shortfall = max(floor_cash - plan.cash_after(book, flow), 0.0)
