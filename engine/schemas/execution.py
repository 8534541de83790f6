"""Simulated execution and post-trade transaction-cost analysis: settings, request, results.

The cost and slippage model (all in basis points of the decision price, per line)::

    half_spread  = half_spread_bps[symbol or class]
    impact       = impact_bps[class] × sqrt(participation) × m,   participation = value / ADV,
                   m = exp(σ·z − σ²/2), z ~ N(0, 1) from the seed (mean 1, always > 0)
    fill price   = decision × (1 ± (half_spread + impact) / 1e4)   (+ for BUY, − for SELL)
    commission   = commission_bps × fill value / 1e4   (the policy's cost_bps of the line
                   unless commission_bps names its class)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from engine.schemas.base import ResultModel, StrictModel
from engine.schemas.portfolio import AssetClass, Symbol
from engine.schemas.results import RebalanceResult

Bps = Annotated[float, Field(ge=0.0, le=5_000.0)]
Money = Annotated[float, Field(gt=0.0, le=1e15)]

#: Half the quoted spread. Large ETFs and FX are tight; small funds, bonds and crypto wider.
DEFAULT_HALF_SPREAD_BPS: dict[str, float] = {
    "etf": 1.0, "stock": 2.5, "mutual_fund": 10.0, "bond": 10.0, "commodity": 5.0,
    "fx": 0.5, "crypto": 20.0, "cash": 0.0,
}
#: Square-root impact coefficient: bps paid when trading a whole day's volume.
DEFAULT_IMPACT_BPS: dict[str, float] = {
    "etf": 30.0, "stock": 50.0, "mutual_fund": 60.0, "bond": 60.0, "commodity": 50.0,
    "fx": 20.0, "crypto": 100.0, "cash": 0.0,
}
#: Average daily traded value (base currency) when a symbol has none of its own.
DEFAULT_ADV: dict[str, float] = {
    "etf": 2e8, "stock": 5e8, "mutual_fund": 5e6, "bond": 2e7, "commodity": 1e8,
    "fx": 1e10, "crypto": 5e7, "cash": 1e15,
}


def _complete(given: dict[str, float], defaults: dict[str, float]) -> dict[str, float]:
    """Defaults for every class the caller did not name."""
    return {**defaults, **given}


class ExecutionSettings(StrictModel):
    """The cost and slippage model of simulated fills and the surveillance thresholds.

    Per-class tables are completed from the defaults, so giving one class changes only it.
    """

    commission_bps: dict[AssetClass, Bps] = Field(
        default_factory=dict, description="Commission by class; a class not named pays the policy's cost_bps.")
    half_spread_bps: dict[AssetClass, Bps] = Field(default_factory=lambda: dict(DEFAULT_HALF_SPREAD_BPS))
    half_spread_bps_by_symbol: dict[Symbol, Bps] = Field(default_factory=dict)
    impact_bps: dict[AssetClass, Bps] = Field(
        default_factory=lambda: dict(DEFAULT_IMPACT_BPS),
        description="Impact at 100 % participation; impact = impact_bps × sqrt(value / ADV).")
    adv: dict[AssetClass, Money] = Field(default_factory=lambda: dict(DEFAULT_ADV),
                                         description="Average daily traded value by class.")
    adv_by_symbol: dict[Symbol, Money] = Field(default_factory=dict)
    impact_noise: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        default=0.3, description="σ of the lognormal impact multiplier exp(σz − σ²/2); 0 = no noise.")
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    line_shortfall_bps_limit: Annotated[float, Field(ge=0.0)] = Field(
        default=50.0, description="Flag a line whose implementation shortfall exceeds this.")
    total_shortfall_bps_limit: Annotated[float, Field(ge=0.0)] = Field(
        default=25.0, description="Flag the order when its total shortfall exceeds this.")
    cost_overrun_ratio: Annotated[float, Field(ge=1.0)] = Field(
        default=3.0, description="Flag a line whose simulated cost exceeds the estimate by this factor…")
    cost_overrun_min: Annotated[float, Field(ge=0.0)] = Field(
        default=10.0, description="…and by at least this much money.")
    participation_limit: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=0.1, description="Flag a line trading more than this fraction of its ADV.")

    @field_validator("half_spread_bps")
    @classmethod
    def _spreads(cls, v: dict[str, float]) -> dict[str, float]:
        return _complete(v, DEFAULT_HALF_SPREAD_BPS)

    @field_validator("impact_bps")
    @classmethod
    def _impacts(cls, v: dict[str, float]) -> dict[str, float]:
        return _complete(v, DEFAULT_IMPACT_BPS)

    @field_validator("adv")
    @classmethod
    def _advs(cls, v: dict[str, float]) -> dict[str, float]:
        return _complete(v, DEFAULT_ADV)


class ExecutionRequest(StrictModel):
    """Simulate the fills of a proposal's BUY and SELL lines and analyse their cost."""

    proposal: RebalanceResult
    settings: ExecutionSettings = Field(default_factory=ExecutionSettings)


class Fill(ResultModel):
    """One simulated fill and its transaction-cost analysis. Costs are positive when paid.

    ``shortfall`` is the implementation shortfall against a paper trade at the decision price:
    ±(fill value − decision value) + commission. Everything fills, so it equals
    ``simulated_cost`` (commission + spread + impact) in this model.
    """

    symbol: str
    asset_class: str
    action: Literal["BUY", "SELL"]
    units: float
    decision_price: float
    fill_price: float
    decision_value: float
    fill_value: float
    participation: float = Field(description="decision value / ADV.")
    half_spread_bps: float
    impact_bps: float
    commission_bps: float
    commission: float
    spread_cost: float
    impact_cost: float
    estimated_cost: float = Field(description="The rebalance's own estimate (TradeLine.cost).")
    estimated_cost_bps: float
    simulated_cost: float
    simulated_cost_bps: float
    cost_difference: float = Field(description="simulated − estimated.")
    shortfall: float
    shortfall_bps: float = Field(description="shortfall / decision value × 1e4.")
    slippage_bps: float = Field(description="Adverse price move of the fill vs the decision price, ≥ 0 here.")


class ExecutionTotals(ResultModel):
    n_fills: int
    buy_value: float = Field(description="At decision prices.")
    sell_value: float
    decision_value: float
    fill_value: float
    commission: float
    spread_cost: float
    impact_cost: float
    estimated_cost: float
    estimated_cost_bps: float | None
    simulated_cost: float
    simulated_cost_bps: float | None
    cost_difference: float
    shortfall: float
    shortfall_bps: float | None
    slippage_bps: float | None = Field(description="Decision-value-weighted mean of the lines' slippage.")


class ExecutionFlag(ResultModel):
    """A surveillance flag: something past a threshold, and why."""

    scope: Literal["line", "total"]
    symbol: str | None
    code: Literal["line_shortfall", "total_shortfall", "cost_overrun", "participation"]
    value: float
    threshold: float
    reason: str


class ExecutionReport(ResultModel):
    fills: list[Fill]
    totals: ExecutionTotals
    flags: list[ExecutionFlag]
    seed: int
    settings: ExecutionSettings
    warnings: list[str] = Field(default_factory=list)
