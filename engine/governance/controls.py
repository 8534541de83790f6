"""The supervisor's pre-trade controls.

Each control is a pure function ``(context) -> ControlResult`` registered in :data:`CONTROLS`,
so the blueprint, the pipeline and the GUI all read one declared list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.schemas import Portfolio, RebalanceResult, RiskMetrics
from engine.schemas.governance import ControlPolicy, ControlReport, ControlResult, ControlStatus


@dataclass(frozen=True)
class ControlContext:
    """What the controls look at: the proposal, the book it applies to, and post-trade risk."""

    portfolio: Portfolio
    proposal: RebalanceResult
    policy: ControlPolicy
    post_trade_risk: RiskMetrics | None = None


@dataclass(frozen=True)
class ControlSpec:
    name: str
    description: str
    hard: bool
    check: Callable[[ControlContext], ControlResult]


def _graded(name: str, hard: bool, value: float | None, limit: float | None, warn_at: float,
            what: str, fmt: Callable[[float], str]) -> ControlResult:
    """pass / warn / fail for an upper limit, with a sentence naming both numbers."""
    if limit is None:
        return ControlResult(control=name, status="pass", hard=hard, value=value, limit=None,
                             reason=f"no {what} limit set")
    if value is None:
        return ControlResult(control=name, status="warn", hard=hard, value=None, limit=limit,
                             reason=f"{what} unavailable; limit {fmt(limit)} not checked")
    status: ControlStatus
    if value > limit + 1e-12:
        status, word = "fail", "exceeds"
    elif value >= warn_at * limit:
        status, word = "warn", "is close to"
    else:
        status, word = "pass", "is within"
    return ControlResult(control=name, status=status, hard=hard, value=value, limit=limit,
                         reason=f"{what} {fmt(value)} {word} the limit {fmt(limit)}")


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def check_turnover(ctx: ControlContext) -> ControlResult:
    return _graded("max_turnover", True, ctx.proposal.totals.turnover, ctx.policy.max_turnover,
                   ctx.policy.warn_at, "one-way turnover", _pct)


def check_single_trade(ctx: ControlContext) -> ControlResult:
    value = ctx.proposal.totals.portfolio_value
    trades = [t for t in ctx.proposal.trades if t.action != "HOLD"]
    largest = max(trades, key=lambda t: t.trade_value, default=None)
    share = (largest.trade_value / value) if (largest and value > 0) else 0.0
    result = _graded("max_single_trade", True, share, ctx.policy.max_single_trade, ctx.policy.warn_at,
                     "largest single trade" + (f" ({largest.action} {largest.symbol})" if largest else ""), _pct)
    return result


def check_class_limits(ctx: ControlContext) -> ControlResult:
    weights = ctx.proposal.post_trade_weights
    exposure_of = {h.symbol: h.effective_exposure for h in ctx.portfolio.holdings}
    totals: dict[str, float] = {}
    for symbol, w in weights.items():
        key = "cash" if symbol == "CASH" else exposure_of.get(symbol, "cash")
        totals[key] = totals.get(key, 0.0) + w
    breaches = []
    for exposure, lim in sorted(ctx.policy.class_limits.items()):
        w = totals.get(exposure, 0.0)
        if w < lim.min - 1e-9 or w > lim.max + 1e-9:
            breaches.append(f"{exposure} {_pct(w)} outside [{_pct(lim.min)}, {_pct(lim.max)}]")
    if not ctx.policy.class_limits:
        return ControlResult(control="class_limits", status="pass", hard=True, value=None, limit=None,
                             reason="no asset-class limits set")
    if breaches:
        return ControlResult(control="class_limits", status="fail", hard=True, value=None, limit=None,
                             reason="; ".join(breaches))
    return ControlResult(control="class_limits", status="pass", hard=True, value=None, limit=None,
                         reason="every asset class within its limits")


def check_min_cash(ctx: ControlContext) -> ControlResult:
    cash = ctx.proposal.post_trade_weights.get("CASH", 0.0)
    floor = ctx.policy.min_cash_weight
    status: ControlStatus = "fail" if cash < floor - 1e-9 else "pass"
    word = "below" if status == "fail" else "at or above"
    return ControlResult(control="min_cash", status=status, hard=True, value=cash, limit=floor,
                         reason=f"post-trade cash {_pct(cash)} is {word} the minimum {_pct(floor)}")


def check_restricted(ctx: ControlContext) -> ControlResult:
    no_buy = {s.upper() for s in ctx.policy.do_not_buy}
    no_sell = {s.upper() for s in ctx.policy.do_not_sell}
    hits = [f"{t.action} {t.symbol}" for t in ctx.proposal.trades
            if (t.action == "BUY" and t.symbol.upper() in no_buy) or (t.action == "SELL" and t.symbol.upper() in no_sell)]
    if hits:
        return ControlResult(control="restricted_list", status="fail", hard=True, value=float(len(hits)), limit=0.0,
                             reason="restricted trades: " + ", ".join(hits))
    return ControlResult(control="restricted_list", status="pass", hard=True, value=0.0, limit=0.0,
                         reason="no trade touches the restricted list")


def check_post_trade_volatility(ctx: ControlContext) -> ControlResult:
    vol = ctx.post_trade_risk.volatility if ctx.post_trade_risk else None
    return _graded("post_trade_volatility", True, vol, ctx.policy.max_post_trade_volatility, ctx.policy.warn_at,
                   "post-trade volatility", _pct)


def check_post_trade_var(ctx: ControlContext) -> ControlResult:
    var = ctx.post_trade_risk.var_95 if ctx.post_trade_risk else None
    return _graded("post_trade_var_95", True, var, ctx.policy.max_post_trade_var_95, ctx.policy.warn_at,
                   "post-trade VaR 95", _pct)


CONTROLS: tuple[ControlSpec, ...] = (
    ControlSpec("max_turnover", "One-way turnover (buys / value) at most the limit.", True, check_turnover),
    ControlSpec("max_single_trade", "No single trade larger than the limit (fraction of value).", True,
                check_single_trade),
    ControlSpec("class_limits", "Post-trade weight of each economic exposure within its bounds.", True,
                check_class_limits),
    ControlSpec("min_cash", "Post-trade cash weight at least the minimum.", True, check_min_cash),
    ControlSpec("restricted_list", "No buy of a do-not-buy symbol, no sell of a do-not-sell symbol.", True,
                check_restricted),
    ControlSpec("post_trade_volatility", "Annualised post-trade volatility at most the limit.", True,
                check_post_trade_volatility),
    ControlSpec("post_trade_var_95", "Post-trade one-period VaR 95 at most the limit.", True, check_post_trade_var),
)


def run_controls(ctx: ControlContext) -> ControlReport:
    """Run every declared control; approvable when no hard control failed."""
    results = [spec.check(ctx) for spec in CONTROLS]
    n_fail = sum(r.status == "fail" for r in results)
    n_warn = sum(r.status == "warn" for r in results)
    approvable = not any(r.status == "fail" and r.hard for r in results)
    return ControlReport(results=results, approvable=approvable, n_fail=n_fail, n_warn=n_warn)
