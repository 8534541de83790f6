"""Simulated execution of a rebalance proposal's BUY and SELL lines.

Every line fills completely, at a price worse than the decision price (the proposal's
``TradeLine.price``) by half the spread plus a square-root market impact with a seeded
lognormal noise factor; a commission is charged on the fill value. The model and its
defaults by asset class are documented in :mod:`engine.schemas.execution`. Post-trade
analysis (costs, implementation shortfall, surveillance flags) is :mod:`engine.tca`.

The same proposal, settings and seed always give the same fills: the noise is drawn once,
one normal per traded line in proposal order, from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.schemas import RebalanceResult, TradeLine
from engine.schemas.execution import ExecutionReport, ExecutionRequest, ExecutionSettings

MAX_SLIPPAGE_BPS = 5_000.0
"""Half-spread plus impact is capped here, so a sell always fills at a positive price."""

__all__ = ["MAX_SLIPPAGE_BPS", "SimulatedFills", "simulate_execution", "simulate_fills"]


@dataclass(frozen=True)
class SimulatedFills:
    """Fills of the traded lines, as arrays of shape ``(k,)`` in proposal order."""

    lines: list[TradeLine]
    side: np.ndarray  # +1 BUY, -1 SELL
    units: np.ndarray
    decision_price: np.ndarray
    participation: np.ndarray
    half_spread_bps: np.ndarray
    impact_bps: np.ndarray
    commission_bps: np.ndarray
    fill_price: np.ndarray
    warnings: list[str]

    @property
    def decision_value(self) -> np.ndarray:
        return self.units * self.decision_price

    @property
    def fill_value(self) -> np.ndarray:
        return self.units * self.fill_price

    @property
    def commission(self) -> np.ndarray:
        return self.fill_value * self.commission_bps / 1e4


def _by_symbol(table: Mapping[str, float], symbol: str) -> float | None:
    upper = {k.upper(): v for k, v in table.items()}
    return upper.get(symbol.upper())


def _line_parameters(lines: list[TradeLine], st: ExecutionSettings) -> tuple[np.ndarray, ...]:
    """Half-spread, impact coefficient, ADV and commission (bps, bps, money, bps) per line."""
    spread, impact, adv, commission = [], [], [], []
    for t in lines:
        s = _by_symbol(st.half_spread_bps_by_symbol, t.symbol)
        spread.append(st.half_spread_bps[t.asset_class] if s is None else s)
        impact.append(st.impact_bps[t.asset_class])
        a = _by_symbol(st.adv_by_symbol, t.symbol)
        adv.append(st.adv[t.asset_class] if a is None else a)
        commission.append(st.commission_bps.get(t.asset_class, t.cost_bps))
    return tuple(np.array(x, dtype=float) for x in (spread, impact, adv, commission))


def simulate_fills(proposal: RebalanceResult, settings: ExecutionSettings | None = None) -> SimulatedFills:
    """Fill every BUY and SELL line of ``proposal`` under ``settings``' cost model.

    Returns
    -------
    SimulatedFills
        Buys fill at or above and sells at or below the decision price (half-spread and
        impact are never negative); HOLD lines are left out.
    """
    st = settings or ExecutionSettings()
    lines = [t for t in proposal.trades if t.action != "HOLD" and t.units > 0]
    side = np.array([1.0 if t.action == "BUY" else -1.0 for t in lines])
    units = np.array([t.units for t in lines], dtype=float)
    price = np.array([t.price for t in lines], dtype=float)
    spread, coefficient, adv, commission = _line_parameters(lines, st)
    participation = units * price / adv
    z = np.random.default_rng(st.seed).standard_normal(len(lines))
    noise = np.exp(st.impact_noise * z - 0.5 * st.impact_noise**2)
    impact = coefficient * np.sqrt(participation) * noise
    warnings = []
    capped = spread + impact > MAX_SLIPPAGE_BPS
    if capped.any():
        names = ", ".join(t.symbol for t, c in zip(lines, capped, strict=True) if c)
        warnings.append(f"{names}: spread plus impact capped at {MAX_SLIPPAGE_BPS:,.0f} bps (the trade is "
                        "far larger than the market's daily volume)")
        impact = np.where(capped, MAX_SLIPPAGE_BPS - spread, impact)
    fill = price * (1.0 + side * (spread + impact) / 1e4)
    return SimulatedFills(lines, side, units, price, participation, spread, impact, commission, fill, warnings)


def simulate_execution(request: ExecutionRequest | RebalanceResult | Mapping[str, Any],
                       settings: ExecutionSettings | Mapping[str, Any] | None = None) -> ExecutionReport:
    """Simulated fills of a proposal and their transaction-cost analysis, with flags.

    Parameters
    ----------
    request : ExecutionRequest (or its dict), or the RebalanceResult itself.
    settings : ExecutionSettings or dict, optional
        Used with a bare RebalanceResult; an ExecutionRequest carries its own.

    Raises
    ------
    InvalidRequest
        The request or settings fail validation.
    """
    from engine.service import validate
    from engine.tca import analyse_fills

    if isinstance(request, RebalanceResult):
        request = ExecutionRequest(proposal=request, settings=validate(ExecutionSettings, settings or {}))
    else:
        request = validate(ExecutionRequest, request)
    return analyse_fills(simulate_fills(request.proposal, request.settings), request.settings)
