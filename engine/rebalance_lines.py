"""Turn a rebalance plan into result objects: trade lines with reasons, totals, weights."""

from __future__ import annotations

import numpy as np

from engine.rebalance_plan import Book, Plan, Weights
from engine.schemas import Portfolio, RebalancePolicy, RebalanceResult, RebalanceTotals, TradeLine

CASH_KEY = "CASH"


def _band_text(relative: bool, width: float, half: float) -> str:
    if relative:
        return f"±{width * 100:g} % relative band (±{half * 100:.1f} pp)"
    return f"±{width * 100:.1f} pp band"


class _ReasonContext:
    """Per-line inputs of the reason sentence, as Python lists (fast element access)."""

    def __init__(self, book: Book, w: Weights, plan: Plan, policy: RebalancePolicy) -> None:
        self.min_trade = book.min_trade
        self.to_edge = policy.rebalance_to == "band_edge"
        self.drift = w.drift.tolist()
        self.drift_text = [f"drift {x:+.1f} pp" for x in (w.drift * 100).tolist()]
        # Band texts repeat (one per class, or per 0.1 pp of a relative band): format each once.
        half_tenths = np.rint((w.high - w.effective) * 1000).tolist()
        cache: dict[tuple, str] = {}
        self.band_text = [
            cache.get(key) or cache.setdefault(key, _band_text(key[0], key[1], key[2] / 1000))
            for key in zip(book.band_relative.tolist(), book.band_width.tolist(), half_tenths, strict=True)
        ]
        self.in_band = w.in_band.tolist()
        self.lot = book.lot_value.tolist()
        self.want_buy = plan.desired_buy.tolist()
        self.want_sell = plan.desired_sell.tolist()
        self.deposit = plan.deposit_buy.tolist()
        self.raise_ = plan.raise_sell.tolist()
        self.cap = plan.cut_by_cap.tolist()
        self.cash = plan.cut_by_cash.tolist()
        self.trimmed = plan.trimmed.tolist()
        self.below_min = plan.below_min.tolist()
        self.below_lot = plan.below_lot.tolist()

    def reason(self, i: int, action: str) -> str:
        """One sentence an advisor reads: why this line buys, sells or holds."""
        if action == "HOLD" and self.in_band[i] and not (self.below_min[i] or self.below_lot[i]):
            return f"within band ({self.drift_text[i]}, {self.band_text[i]})"  # the common case, first
        drift = self.drift_text[i]
        outside = f"{drift} outside {self.band_text[i]}"
        goal = "to band edge" if self.to_edge else "back to target"
        if self.cap[i] or self.cash[i]:
            goal = "towards " + ("band edge" if self.to_edge else "target")
        if action == "BUY":
            return self._buy(i, drift, outside, goal)
        if action == "SELL":
            if self.want_sell[i] > 0:
                text = f"{outside}; sold {goal}"
                if self.raise_[i] > 0:
                    text += " and further to raise the withdrawal"
                elif self.cap[i]:
                    text += " only as far as the capped buys need (turnover cap)"
                return text
            return f"sold to raise the withdrawal, most overweight first ({drift})"
        return self._hold(i, outside)
    def _buy(self, i: int, drift: str, outside: str, goal: str) -> str:
        if self.want_buy[i] > 0:
            text = f"{outside}; bought {goal}"
            if self.deposit[i] > 0:
                text += ", investing part of the deposit"
        else:
            text = f"invests the deposit towards target ({drift})"
        if self.cap[i]:
            text += "; limited by turnover cap"
        elif self.cash[i]:
            text += "; limited by available cash"
        elif self.trimmed[i]:
            text += "; reduced to what the lot-rounded sales and cash cover"
        return text

    def _hold(self, i: int, outside: str) -> str:
        wanted = self.want_buy[i] + self.deposit[i] + self.want_sell[i] + self.raise_[i]
        if self.below_min[i]:
            return f"trade of {wanted:,.2f} below minimum trade value {self.min_trade:,.2f}; held"
        if self.below_lot[i] and wanted < self.lot[i]:
            return f"trade of {wanted:,.2f} smaller than one lot ({self.lot[i]:,.2f}); held"
        # A limit that cut the trade to nothing says more than the lot rounding that followed it.
        if self.cap[i]:
            return f"{outside}; not traded: turnover cap reached"
        if self.cash[i] or self.trimmed[i]:
            return f"{outside}; not traded: no cash available above the reserve (in-band positions are held)"
        if self.below_lot[i]:
            return f"trade of {wanted:,.2f} rounds down to no whole lot ({self.lot[i]:,.2f}); held"
        if self.want_sell[i] == 0 and self.drift[i] > 0:
            return f"{outside}; not traded: no whole lot held to sell"
        return f"{outside}; not traded"


def build_result(portfolio: Portfolio, policy: RebalancePolicy, book: Book, w: Weights, plan: Plan,
                 flow: float, turnover_base: float, warnings: list[str]) -> RebalanceResult:
    """Assemble the :class:`RebalanceResult` (pydantic objects built without re-validation)."""
    lot = book.lot_value
    buy_v = plan.buy_lots * lot
    sell_v = plan.sell_lots * lot
    units = np.round((plan.buy_lots + plan.sell_lots) * book.unit, 12)
    trade_v = buy_v + sell_v
    cost = trade_v * book.rate
    post_qty = np.maximum(book.qty + (plan.buy_lots - plan.sell_lots) * book.unit, 0.0)
    post_qty = np.where(post_qty < 1e-9 * book.unit, 0.0, post_qty)
    post_val = post_qty * book.price
    cash_after = plan.cash_after(book, flow)
    post_total = float(post_val.sum()) + cash_after
    if post_total > 0:
        post_w = post_val / post_total
        cash_w = cash_after / post_total
        post_eff = book.target * max(post_total - book.reserve, 0.0) / post_total
    else:  # nothing left: report everything as cash so the weights still sum to 1
        post_w, cash_w, post_eff = np.zeros_like(post_val), 1.0, np.zeros_like(post_val)
    action = np.where(plan.buy_lots > 0, "BUY", np.where(plan.sell_lots > 0, "SELL", "HOLD"))
    lines = _lines(portfolio, policy, book, w, plan, action, units, trade_v, cost, post_qty, post_val,
                   post_w, post_w - post_eff)
    weights = {h.symbol: float(x) for h, x in zip(portfolio.holdings, post_w, strict=True)}
    weights[CASH_KEY] = weights.get(CASH_KEY, 0.0) + float(cash_w)  # a holding named CASH is cash too
    buy_total, sell_total = float(buy_v.sum()), float(sell_v.sum())
    value = float(book.value.sum()) + book.cash
    totals = RebalanceTotals.model_construct(
        portfolio_value=value, post_trade_value=post_total, cash_before=book.cash, cash_flow=flow,
        cash_reserve=book.reserve, buy_value=buy_total, sell_value=sell_total,
        turnover=buy_total / turnover_base if turnover_base > 0 else 0.0,
        turnover_limit=policy.turnover_limit, total_cost=float(cost.sum()), residual_cash=cash_after,
        residual_cash_weight=float(cash_w), n_trades=int(np.count_nonzero(action != "HOLD")),
        limits_bound=list(dict.fromkeys(plan.bound)), turnover_limit_bound="turnover_limit" in plan.bound,
    )
    return RebalanceResult.model_construct(trades=lines, totals=totals, post_trade_weights=weights,
                                           warnings=warnings)


def _lines(portfolio: Portfolio, policy: RebalancePolicy, book: Book, w: Weights, plan: Plan,
           action: np.ndarray, units: np.ndarray, trade_v: np.ndarray, cost: np.ndarray,
           post_qty: np.ndarray, post_val: np.ndarray, post_w: np.ndarray, post_drift: np.ndarray
           ) -> list[TradeLine]:
    cols = [a.tolist() for a in (book.price, book.qty, book.value, w.current, book.target, w.drift, w.low,
                                 w.high, w.in_band, units, trade_v, cost, book.bps, book.unit, post_qty,
                                 post_val, post_w, post_drift, w.effective)]
    acts = action.tolist()
    reason = _ReasonContext(book, w, plan, policy).reason
    new, set_attr, fields = TradeLine.__new__, object.__setattr__, _FIELDS_SET
    out = []
    for i, (h, price, qty, val, cur, tgt, drift, low, high, inb, un, tv, co, bps, unit, pq, pv, pw, pd, eff) in \
            enumerate(zip(portfolio.holdings, *cols, strict=True)):
        act = acts[i]
        data = {
            "symbol": h.symbol, "name": h.name, "asset_class": h.asset_class, "action": act, "price": price,
            "current_quantity": qty, "current_value": val, "current_weight": cur, "target_weight": tgt,
            "drift": drift, "band_low": low, "band_high": high, "in_band": inb, "units": un, "trade_value": tv,
            "cost": co, "cost_bps": bps, "trade_unit": unit, "post_trade_quantity": pq, "post_trade_value": pv,
            "post_trade_weight": pw, "post_trade_drift": pd, "reason": reason(i, act), "effective_target_weight": eff,
        }
        # What model_construct does, minus its per-field default/alias handling (every field
        # is given), which is most of its cost; tests check these lines re-validate to themselves.
        # The fields-set is shared: it already holds every field, so assignment cannot change it.
        line = new(TradeLine)
        set_attr(line, "__dict__", data)
        set_attr(line, "__pydantic_fields_set__", fields)
        set_attr(line, "__pydantic_extra__", None)
        set_attr(line, "__pydantic_private__", None)
        out.append(line)
    return out


_FIELDS_SET = set(TradeLine.model_fields)
