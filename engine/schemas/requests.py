"""Request models shared by every face (REST, GUI, scripts)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from engine.schemas.base import StrictModel
from engine.schemas.policy import MonteCarloSettings, RebalancePolicy, RiskSettings
from engine.schemas.portfolio import MAX_HISTORY_POINTS, AssetClass, Portfolio, Price, Symbol

FiniteReturn = Annotated[float, Field(gt=-1.0, le=100.0)]
"""A simple periodic return: above -100 % (a price cannot go below zero) and finite."""


class AssetHistory(StrictModel):
    """Per-asset return histories supplied by the caller instead of the bundled market data.

    Series may differ in length; they are aligned on their most recent observation.
    """

    returns: dict[Symbol, list[FiniteReturn]] = Field(default_factory=dict)
    periods_per_year: Annotated[int, Field(ge=1, le=366)] = 252

    @field_validator("returns")
    @classmethod
    def _bounded(cls, returns: dict[str, list[float]]) -> dict[str, list[float]]:
        n = sum(len(v) for v in returns.values())
        if n > MAX_HISTORY_POINTS:
            raise ValueError(f"{n:,} history points; at most {MAX_HISTORY_POINTS:,} are accepted")
        return returns


class RebalanceRequest(StrictModel):
    """The engine's full rebalance request."""

    portfolio: Portfolio
    policy: RebalancePolicy = Field(default_factory=RebalancePolicy)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    monte_carlo: MonteCarloSettings = Field(default_factory=MonteCarloSettings)
    history: AssetHistory | None = Field(
        default=None, description="Return histories to use instead of the bundled market data."
    )


class SeedAsset(StrictModel):
    """One asset line of the seed MVP's ``POST /api/rebalance`` payload (kept verbatim)."""

    asset: Symbol
    target_weight: Annotated[float, Field(ge=0.0, le=1.0)]
    current_weight: Annotated[float, Field(ge=0.0, le=1.0)]
    market_return: FiniteReturn = 0.0
    price: Price
    historical_returns: list[FiniteReturn] = Field(default_factory=list)
    asset_class: AssetClass | None = Field(
        default=None, description="Extension: the kind of holding; inferred from the name when absent."
    )


class SeedRebalanceRequest(StrictModel):
    """The seed MVP's payload. Weights left unallocated by the assets are held as cash."""

    portfolio_value: Annotated[float, Field(ge=0.01, le=1e15)]
    drift_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    turnover_limit: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    transaction_cost_bps: Annotated[float, Field(ge=0.0, le=10_000.0)] = 10.0
    assets: Annotated[list[SeedAsset], Field(min_length=1, max_length=5_000)]
    periods_per_year: Annotated[int, Field(ge=1, le=366)] = Field(
        default=252, description="Extension: periods per year of historical_returns."
    )
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = Field(default=42, description="Extension: Monte Carlo seed.")

    @field_validator("assets")
    @classmethod
    def _consistent(cls, assets: list[SeedAsset]) -> list[SeedAsset]:
        seen: dict[str, int] = {}
        for i, a in enumerate(assets):
            key = a.asset.upper()
            if key in seen:
                raise ValueError(f"duplicate asset '{a.asset}' (assets {seen[key]} and {i})")
            seen[key] = i
        for field in ("target_weight", "current_weight"):
            total = sum(getattr(a, field) for a in assets)
            if total > 1.0 + 1e-6:
                raise ValueError(f"{field}s sum to {total:.6f}; they must not exceed 1")
        if sum(a.target_weight for a in assets) <= 1e-9:
            raise ValueError("every target_weight is 0; at least one asset needs a target above 0")
        n = sum(len(a.historical_returns) for a in assets)
        if n > MAX_HISTORY_POINTS:
            raise ValueError(f"{n:,} history points; at most {MAX_HISTORY_POINTS:,} are accepted")
        return assets


class RiskRequest(StrictModel):
    """Risk of a portfolio as it stands and, optionally, after given post-trade weights."""

    portfolio: Portfolio
    settings: RiskSettings = Field(default_factory=RiskSettings)
    post_trade_weights: dict[Symbol, Annotated[float, Field(ge=0.0, le=1.0)]] | None = Field(
        default=None, description="Weights after trades (holdings by symbol, plus 'CASH'); 'after' is omitted without them."
    )
    history: AssetHistory | None = None


class SeriesRiskRequest(StrictModel):
    """Risk metrics of one raw return series (the REST ``/api/risk`` raw form)."""

    returns: Annotated[list[FiniteReturn], Field(min_length=1, max_length=MAX_HISTORY_POINTS)]
    benchmark_returns: Annotated[list[FiniteReturn], Field(max_length=MAX_HISTORY_POINTS)] | None = None
    risk_free_rate: Annotated[float, Field(ge=-0.5, le=1.0)] = 0.0
    periods_per_year: Annotated[int, Field(ge=1, le=366)] = 252

    @model_validator(mode="after")
    def _same_length(self) -> SeriesRiskRequest:
        if self.benchmark_returns is not None and len(self.benchmark_returns) != len(self.returns):
            raise ValueError(
                f"benchmark_returns has {len(self.benchmark_returns)} values; returns has {len(self.returns)}"
            )
        return self


class StressRequest(StrictModel):
    """Monte Carlo and/or historical scenarios for a portfolio."""

    portfolio: Portfolio
    monte_carlo: MonteCarloSettings | None = Field(default_factory=MonteCarloSettings)
    scenarios: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, description="Scenario ids to replay; null = none, ['all'] = the whole library."
    )
    history: AssetHistory | None = None
