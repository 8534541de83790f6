"""Threshold rebalancing: drift, tolerance bands, lots, costs, turnover cap and cash flows.

Definitions
-----------
``V`` is the portfolio value before trades (holdings plus ``portfolio.cash``); ``CF`` the cash
flow (``policy.cash_flow``, deposit > 0, withdrawal < 0, the *applied* amount after the check
below); ``R`` the cash reserve. **Every weight is a fraction of V' = V + CF**: the cash flow
is treated as already booked to cash, so a deposit makes every holding look underweight and a
withdrawal makes them look overweight.

* current weight ``w_i = value_i / V'``;
* effective target ``e_i = target_weight_i × (V' − R) / V'`` (targets are fractions of the
  investable value, as :class:`~engine.schemas.Portfolio` says; ``e_i = target_weight_i``
  when there is no reserve). ``TradeLine.target_weight`` is the target as given,
  ``TradeLine.effective_target_weight`` is ``e_i``;
* drift ``d_i = w_i − e_i``; the band is ``e_i ± width`` (absolute) or ``e_i ± width × e_i``
  (relative), ``policy.band`` unless ``policy.band_by_class`` names the asset class; a
  position exactly on an edge is in band; ``band_low`` is floored at 0;
* post-trade weights are fractions of the post-trade value ``V' − costs``, holdings plus a
  ``'CASH'`` line that sum to 1; post-trade drift uses the effective target at that value.
  A holding whose symbol is exactly ``'CASH'`` (the seed form's cash sleeve) is added into the
  ``'CASH'`` line of ``post_trade_weights`` — it is cash as well.

Rules
-----
1. **Bands.** Only out-of-band positions trade (in-band ones HOLD unless a deposit is being
   invested or a withdrawal raised), to the effective target or, with
   ``rebalance_to="band_edge"``, to the nearest band edge.
2. **Money.** Buys are paid from cash above the reserve, the deposit and sell proceeds, all
   net of costs (``cost = trade_value × bps / 1e4``, ``policy.cost_bps`` unless
   ``cost_bps_by_class`` names the class). Cash never ends below ``R``. When the portfolio
   starts with less cash than ``R``, proceeds and deposits refill the reserve before any buy
   (so buys happen only with money above the reserve) and a warning says so. When buys want
   more than the money, the largest drifts are bought first and the marginal one partially
   (limits ``'cash'``, plus ``'cash_reserve'`` when a reserve is set).
3. **Turnover cap** (one-way, ``buys / V``; ``V'`` if ``V`` is 0). When the full rebalance
   would buy more, buys are filled largest ``|drift|`` first with a partial fill of the
   marginal trade, so ``turnover <= limit`` always; then rounding leftovers are topped up with
   whole lots (largest drift first) to come as close to the limit as lots allow. Because the
   cap limits buys, sells are cut to what the capped buys (and any withdrawal) need, again
   largest drift first: a capped rebalance does not sell positions only to sit on the cash.
   Without a binding cap every out-of-band sell happens, and proceeds the bands do not let
   us spend (in-band positions HOLD) stay as cash.
4. **Cash flows.** After the band trades, what is left of a deposit (within cash and cap) is
   invested buy-only by water-filling: the most underweight positions are raised first to a
   common drift, never above their target (positions being sold are not bought). A
   withdrawal is raised sell-only the same way from the most overweight positions down to a
   common drift (continuing below target if it must). A withdrawal larger than what every
   whole lot held plus spare cash can raise (net of costs, trades under the minimum excluded)
   is cut to that amount, with a warning; ``totals.cash_flow`` is the applied amount.
5. **Lots.** Units are whole multiples of the holding's ``effective_trade_unit``. Buys round
   down. Sells back to target round to the nearest lot; sells that must fund something (band
   edge, capped rebalance, withdrawal) round up. Nothing sells more whole lots than held. If
   rounding leaves cash short, buys are trimmed smallest drift first. A trade smaller than
   one lot is HOLD (limit ``'lot_size'``).
6. **Minimum trade value.** No trade below ``policy.min_trade_value`` (limit
   ``'min_trade_value'``); a withdrawal sell below it is raised to it when enough is held.

Every line gets a ``reason`` sentence. ``limits_bound`` lists the constraints that stopped
trades short; ``turnover_limit_bound`` is ``'turnover_limit' in limits_bound``.
"""

from __future__ import annotations

from engine.rebalance_lines import build_result
from engine.rebalance_plan import Book, Weights, plan_trades
from engine.schemas import Portfolio, RebalancePolicy, RebalanceResult

__all__ = ["rebalance"]


def rebalance(portfolio: Portfolio, policy: RebalancePolicy) -> RebalanceResult:
    """Propose whole-lot trades that bring ``portfolio`` back within ``policy``'s bands.

    Parameters
    ----------
    portfolio : validated portfolio (targets sum to 1).
    policy : bands, turnover cap, costs, cash flow, reserve and minimum trade value.

    Returns
    -------
    RebalanceResult
        One :class:`~engine.schemas.TradeLine` per holding in portfolio order, totals,
        post-trade weights by symbol plus ``'CASH'`` (sum 1) and warnings.
        The rules are in the module docstring.
    """
    book = Book.build(portfolio, policy)
    value = float(book.value.sum()) + book.cash
    warnings: list[str] = []
    flow = _feasible_flow(book, float(policy.cash_flow), warnings)
    if book.cash < book.reserve:
        warnings.append(
            f"cash {book.cash:,.2f} starts below the reserve {book.reserve:,.2f}; sale proceeds and deposits "
            "refill it first and buys use only money above it"
        )
    base = value if value > 0 else value + flow
    plan = plan_trades(book, Weights.of(book, value + flow), policy, flow, base)
    if plan.shortfall > 0 and flow < 0:
        # Rounding or the minimum trade value left the withdrawal short: plan again for what
        # can be raised, so every weight refers to the cash flow actually paid out.
        flow = min(flow + plan.shortfall, 0.0)
        plan = plan_trades(book, Weights.of(book, value + flow), policy, flow, base)
        flow = min(flow + plan.shortfall, 0.0)
        plan.shortfall = 0.0
        warnings.append(f"withdrawal of {-policy.cash_flow:,.2f} could be raised only in part: {-flow:,.2f}")
    if plan.shortfall > 0:
        warnings.append(f"cash ends {plan.shortfall:,.2f} below its floor after rounding")
    weights = Weights.of(book, value + flow)
    return build_result(portfolio, policy, book, weights, plan, flow, base, warnings)


def _feasible_flow(book: Book, flow: float, warnings: list[str]) -> float:
    """The cash flow that can be applied: a withdrawal is cut to what can be raised."""
    if flow >= 0:
        return flow
    most = book.max_raisable()
    if -flow > most:
        warnings.append(
            f"withdrawal of {-flow:,.2f} exceeds what can be raised ({most:,.2f}: spare cash and every "
            "whole lot held, net of costs); that much is raised"
        )
        return -most
    return flow
