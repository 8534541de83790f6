"""Governance models: the supervisor's pre-trade controls and their outcomes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from engine.schemas.base import ResultModel, StrictModel
from engine.schemas.portfolio import Exposure, Symbol

ControlStatus = Literal["pass", "warn", "fail"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class ClassLimit(StrictModel):
    """Bounds on the post-trade weight of one economic exposure."""

    min: Fraction = 0.0
    max: Fraction = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> ClassLimit:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ControlPolicy(StrictModel):
    """Limits the supervisor checks before any trade is approved.

    A control *fails* past its limit and *warns* from ``warn_at`` × limit on (or when the
    figure it needs is unavailable). Fractions are of the pre-trade portfolio value.
    """

    max_turnover: Fraction = 0.25
    max_single_trade: Fraction = Field(default=0.10, description="Largest single trade, fraction of portfolio value.")
    class_limits: dict[Exposure, ClassLimit] = Field(default_factory=dict)
    min_cash_weight: Fraction = 0.0
    do_not_buy: list[Symbol] = Field(default_factory=list)
    do_not_sell: list[Symbol] = Field(default_factory=list)
    max_post_trade_volatility: Annotated[float, Field(gt=0.0, le=5.0)] | None = Field(
        default=None, description="Annualised volatility limit after trades."
    )
    max_post_trade_var_95: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None, description="One-period historical VaR 95 limit after trades (positive loss)."
    )
    warn_at: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.9, description="Warn once a figure reaches this share of its limit."
    )


class ControlResult(ResultModel):
    control: str
    status: ControlStatus
    hard: bool = Field(description="A failed hard control blocks approval.")
    value: float | None
    limit: float | None
    reason: str


class ControlReport(ResultModel):
    results: list[ControlResult]
    approvable: bool = Field(description="True when every hard control passed or warned.")
    n_fail: int
    n_warn: int
