"""Policies and settings: how to rebalance, how to measure risk, how to stress."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.schemas.base import StrictModel
from engine.schemas.portfolio import AssetClass, NonNegative, Symbol

BandKind = Literal["absolute", "relative"]


class Band(StrictModel):
    """A tolerance band around a target weight.

    ``absolute``: target ± width (weight points, 0.02 = ±2 pp).
    ``relative``: target ± width × target (0.25 = ±25 % of the target).
    """

    kind: BandKind = "absolute"
    width: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02


class RebalancePolicy(StrictModel):
    """What a rebalance may do. Money amounts are in the portfolio's base currency."""

    band: Band = Field(default_factory=Band)
    band_by_class: dict[AssetClass, Band] = Field(default_factory=dict)
    rebalance_to: Literal["target", "band_edge"] = Field(
        default="target", description="Trade out-of-band positions back to target, or only to the nearest band edge."
    )
    turnover_limit: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None, description="One-way turnover cap: sum of buys as a fraction of portfolio value."
    )
    cost_bps: Annotated[float, Field(ge=0.0, le=10_000.0)] = 10.0
    cost_bps_by_class: dict[AssetClass, Annotated[float, Field(ge=0.0, le=10_000.0)]] = Field(default_factory=dict)
    cash_flow: Annotated[float, Field(ge=-1e15, le=1e15)] = Field(
        default=0.0, description="Deposit (> 0) to invest or withdrawal (< 0) to raise."
    )
    cash_reserve: NonNegative = Field(default=0.0, description="Cash that is never spent.")
    min_trade_value: NonNegative = Field(default=0.0, description="No trade smaller than this is proposed.")


class RiskSettings(StrictModel):
    """How the risk panel measures a portfolio."""

    benchmark: Symbol | Literal["targets"] | None = Field(
        default="targets", description="A bundled symbol, 'targets' (the target-weights portfolio), or none."
    )
    risk_free_rate: Annotated[float, Field(ge=-0.5, le=1.0)] = Field(default=0.0, description="Annual rate.")
    cash_rate: Annotated[float, Field(ge=-0.5, le=1.0)] = Field(default=0.0, description="Annual rate earned by cash.")
    periods_per_year: Annotated[int, Field(ge=1, le=366)] | None = Field(
        default=None, description="Override the periods per year inferred from the dates."
    )
    lookback_years: Annotated[float, Field(gt=0.0, le=200.0)] | None = Field(
        default=None, description="Use only this many years before the end of the common window."
    )
    target_cash_weight: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0,
        description="Share of the policy portfolio held as cash (a cash reserve): the 'targets' benchmark "
        "holds target_weight × (1 − this) in each holding and this share in cash.",
    )


MonteCarloMethod = Literal["gaussian", "bootstrap", "block_bootstrap"]


class MonteCarloSettings(StrictModel):
    method: MonteCarloMethod = "bootstrap"
    paths: Annotated[int, Field(ge=100, le=200_000)] = 10_000
    horizon: Annotated[int, Field(ge=1, le=2_520)] | None = Field(
        default=None,
        description="Steps simulated, in periods of the history (daily: 252 = one year). "
        "Unset: one year of periods (252 daily, 12 monthly).",
    )
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 42
    mean_block_length: Annotated[float, Field(ge=1.0, le=1_000.0)] = Field(
        default=10.0, description="Mean block length of the stationary bootstrap."
    )
    mode: Literal["constant_mix", "buy_and_hold"] = "constant_mix"
    initial_value: Annotated[float, Field(gt=0.0, le=1e15)] | None = Field(
        default=None, description="Starting value; defaults to the portfolio's value."
    )

    @model_validator(mode="after")
    def _work_is_bounded(self) -> MonteCarloSettings:
        if self.horizon is not None and self.paths * self.horizon > 100_000_000:
            raise ValueError("paths × horizon must not exceed 100,000,000")
        return self
