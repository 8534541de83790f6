"""Post-trade transaction-cost analysis of simulated fills, with surveillance flags.

Sign conventions: every cost and the implementation shortfall are **positive when paid**
(the fill was worse than a paper trade at the decision price); slippage is the adverse
price move in bps, ``+(fill / decision − 1)`` for a buy and ``−(fill / decision − 1)`` for
a sell. Basis points are of the decision value (units × decision price). Totals in bps are
totals in money over the total decision value (``None`` when nothing traded).
"""

from __future__ import annotations

import numpy as np

from engine.execution import SimulatedFills
from engine.schemas.execution import ExecutionFlag, ExecutionReport, ExecutionSettings, ExecutionTotals, Fill

__all__ = ["analyse_fills", "surveillance_flags"]


def _bps(money: float, base: float) -> float | None:
    return money / base * 1e4 if base > 0 else None


def _fill_rows(f: SimulatedFills) -> list[Fill]:
    value = f.decision_value
    spread = value * f.half_spread_bps / 1e4
    impact = value * f.impact_bps / 1e4
    simulated = f.commission + spread + impact
    shortfall = f.side * (f.fill_value - value) + f.commission
    estimated = np.array([t.cost for t in f.lines], dtype=float)
    slippage = f.side * (f.fill_price / f.decision_price - 1.0) * 1e4
    return [
        Fill(symbol=t.symbol, asset_class=t.asset_class, action=t.action, units=float(f.units[i]),
             decision_price=float(f.decision_price[i]), fill_price=float(f.fill_price[i]),
             decision_value=float(value[i]), fill_value=float(f.fill_value[i]),
             participation=float(f.participation[i]), half_spread_bps=float(f.half_spread_bps[i]),
             impact_bps=float(f.impact_bps[i]), commission_bps=float(f.commission_bps[i]),
             commission=float(f.commission[i]), spread_cost=float(spread[i]), impact_cost=float(impact[i]),
             estimated_cost=float(estimated[i]), estimated_cost_bps=float(estimated[i] / value[i] * 1e4),
             simulated_cost=float(simulated[i]), simulated_cost_bps=float(simulated[i] / value[i] * 1e4),
             cost_difference=float(simulated[i] - estimated[i]), shortfall=float(shortfall[i]),
             shortfall_bps=float(shortfall[i] / value[i] * 1e4), slippage_bps=float(slippage[i]))
        for i, t in enumerate(f.lines)
    ]


def _totals(fills: list[Fill]) -> ExecutionTotals:
    def total(name: str) -> float:
        return float(sum(getattr(x, name) for x in fills))

    value = total("decision_value")
    weighted_slippage = float(sum(x.slippage_bps * x.decision_value for x in fills))
    return ExecutionTotals(
        n_fills=len(fills), buy_value=float(sum(x.decision_value for x in fills if x.action == "BUY")),
        sell_value=float(sum(x.decision_value for x in fills if x.action == "SELL")), decision_value=value,
        fill_value=total("fill_value"), commission=total("commission"), spread_cost=total("spread_cost"),
        impact_cost=total("impact_cost"), estimated_cost=total("estimated_cost"),
        estimated_cost_bps=_bps(total("estimated_cost"), value), simulated_cost=total("simulated_cost"),
        simulated_cost_bps=_bps(total("simulated_cost"), value), cost_difference=total("cost_difference"),
        shortfall=total("shortfall"), shortfall_bps=_bps(total("shortfall"), value),
        slippage_bps=weighted_slippage / value if value > 0 else None,
    )


def _line_flags(x: Fill, st: ExecutionSettings) -> list[ExecutionFlag]:
    out = []
    who = f"{x.symbol} {x.action}"
    if x.shortfall_bps > st.line_shortfall_bps_limit:
        out.append(ExecutionFlag(
            scope="line", symbol=x.symbol, code="line_shortfall", value=x.shortfall_bps,
            threshold=st.line_shortfall_bps_limit,
            reason=f"{who}: implementation shortfall {x.shortfall_bps:.1f} bps exceeds the "
                   f"{st.line_shortfall_bps_limit:g} bps limit (half-spread {x.half_spread_bps:.1f}, impact "
                   f"{x.impact_bps:.1f}, commission {x.commission / x.decision_value * 1e4:.1f} bps)"))
    overrun = x.simulated_cost - x.estimated_cost
    if x.simulated_cost > st.cost_overrun_ratio * x.estimated_cost and overrun > st.cost_overrun_min:
        ratio = x.simulated_cost / x.estimated_cost if x.estimated_cost > 0 else float("inf")
        out.append(ExecutionFlag(
            scope="line", symbol=x.symbol, code="cost_overrun", value=x.simulated_cost,
            threshold=st.cost_overrun_ratio * x.estimated_cost,
            reason=f"{who}: simulated cost {x.simulated_cost:,.2f} is "
                   f"{'more than' if ratio == float('inf') else f'{ratio:.1f}×'} the estimate "
                   f"{x.estimated_cost:,.2f} (limit {st.cost_overrun_ratio:g}×, {overrun:,.2f} over)"))
    if x.participation > st.participation_limit:
        out.append(ExecutionFlag(
            scope="line", symbol=x.symbol, code="participation", value=x.participation,
            threshold=st.participation_limit,
            reason=f"{who}: trades {x.participation:.1%} of its average daily value "
                   f"(limit {st.participation_limit:.1%}); impact grows with the square root of participation"))
    return out


def surveillance_flags(fills: list[Fill], totals: ExecutionTotals, settings: ExecutionSettings) -> list[ExecutionFlag]:
    """Flags for lines and the whole order past the settings' thresholds (strictly past)."""
    out = [flag for x in fills for flag in _line_flags(x, settings)]
    if totals.shortfall_bps is not None and totals.shortfall_bps > settings.total_shortfall_bps_limit:
        out.append(ExecutionFlag(
            scope="total", symbol=None, code="total_shortfall", value=totals.shortfall_bps,
            threshold=settings.total_shortfall_bps_limit,
            reason=f"order: implementation shortfall {totals.shortfall_bps:.1f} bps ({totals.shortfall:,.2f}) "
                   f"exceeds the {settings.total_shortfall_bps_limit:g} bps limit"))
    return out


def analyse_fills(fills: SimulatedFills, settings: ExecutionSettings) -> ExecutionReport:
    """Per-line and total TCA of simulated fills: estimated vs simulated cost, shortfall, flags."""
    rows = _fill_rows(fills)
    totals = _totals(rows)
    return ExecutionReport(fills=rows, totals=totals, flags=surveillance_flags(rows, totals, settings),
                           seed=settings.seed, settings=settings, warnings=list(fills.warnings))
