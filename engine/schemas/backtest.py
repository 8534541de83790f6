"""Backtests of rebalancing policies on real history: the request and its results."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from engine.schemas.base import ResultModel, StrictModel
from engine.schemas.policy import Band, RebalancePolicy
from engine.schemas.portfolio import Portfolio, Symbol, Weight
from engine.schemas.results import DataWindow, RiskMetrics, SeriesPoint

PolicyKind = Literal["buy_and_hold", "calendar", "threshold", "targets"]
Calendar = Literal["monthly", "quarterly", "annual"]
Date = Annotated[dt.date, Field(strict=False)]

MAX_POLICIES = 20
MAX_TARGET_POINTS = 10_000


class TargetPoint(StrictModel):
    """Target weights decided on ``date``; used from the first decision on or after it."""

    date: Date
    weights: dict[Symbol, Weight] = Field(description="By holding symbol; a holding left out gets 0.")


class BacktestPolicy(StrictModel):
    """One rebalancing policy to replay.

    * ``buy_and_hold``: never trades (the reference).
    * ``calendar``: at each ``frequency`` period end, every holding off its target trades back
      (``band`` defaults to width 0; give one for "calendar with tolerance").
    * ``threshold``: bands are checked every period of the data (or at each ``frequency``
      period end) and a rebalance runs when any holding is out of its band (``band`` defaults
      to the request policy's bands).
    * ``targets``: at each ``frequency`` period end (default monthly) the targets come from
      ``target_path`` or the caller's ``targets_fn`` (the AI targets), then the portfolio is
      rebalanced to them (``band`` defaults to width 0).
    """

    name: Annotated[str, Field(min_length=1, max_length=80)] | None = Field(
        default=None, description="Label shown in charts; defaults from kind and frequency.")
    kind: PolicyKind
    frequency: Calendar | None = None
    band: Band | None = None
    target_path: Annotated[list[TargetPoint], Field(max_length=MAX_TARGET_POINTS)] | None = Field(
        default=None, description="Precomputed targets (kind 'targets'); dates strictly increasing.")

    @model_validator(mode="after")
    def _consistent(self) -> BacktestPolicy:
        if self.kind == "calendar" and self.frequency is None:
            raise ValueError("a calendar policy needs a frequency: monthly, quarterly or annual")
        if self.kind == "buy_and_hold" and (self.frequency is not None or self.band is not None):
            raise ValueError("buy_and_hold takes no frequency and no band")
        if self.target_path is not None:
            if self.kind != "targets":
                raise ValueError("target_path is only for kind 'targets'")
            dates = [p.date for p in self.target_path]
            if any(b <= a for a, b in pairwise(dates)):
                raise ValueError("target_path dates must be strictly increasing")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.kind == "buy_and_hold":
            return "Buy and hold"
        if self.kind == "threshold":
            return "Threshold bands" + (f" ({self.frequency} check)" if self.frequency else "")
        if self.kind == "targets":
            return f"AI targets ({self.frequency or 'monthly'})"
        return f"Calendar ({self.frequency})"


def default_policies(with_targets: bool = False) -> list[BacktestPolicy]:
    """Buy and hold, monthly/quarterly/annual calendar, threshold bands (and AI targets)."""
    out = [BacktestPolicy(kind="buy_and_hold")]
    out += [BacktestPolicy(kind="calendar", frequency=f) for f in ("monthly", "quarterly", "annual")]
    out.append(BacktestPolicy(kind="threshold"))
    if with_targets:
        out.append(BacktestPolicy(kind="targets", frequency="monthly"))
    return out


class BacktestRequest(StrictModel):
    """Replay rebalancing policies on the portfolio's real history, with costs.

    ``policy`` supplies what every replayed rebalance shares with a live one: bands (for
    threshold policies), lots, costs, turnover cap, cash reserve and minimum trade value. Its
    ``cash_flow`` must be 0: a backtest has no deposits or withdrawals.
    """

    portfolio: Portfolio
    policy: RebalancePolicy = Field(default_factory=RebalancePolicy)
    policies: Annotated[list[BacktestPolicy], Field(min_length=1, max_length=MAX_POLICIES)] | None = Field(
        default=None, description="Policies to replay; default: buy and hold, calendar monthly/quarterly/"
        "annual, threshold bands (plus AI targets when a targets function is given).")
    start: Date | None = Field(default=None, description="First date; default: start of the common window.")
    end: Date | None = Field(default=None, description="Last date; default: end of the common window.")
    initial: Literal["targets", "holdings"] = Field(
        default="targets", description="'targets': invest initial_value at the target weights (whole lots, "
        "no cost) at the start; 'holdings': hold today's quantities and cash from the start.")
    initial_value: Annotated[float, Field(gt=0.0, le=1e15)] | None = Field(
        default=None, description="Money invested at the start ('targets' only); default: the portfolio's value.")
    risk_free_rate: Annotated[float, Field(ge=-0.5, le=1.0)] = Field(default=0.0, description="Annual, for Sharpe.")

    @field_validator("policy")
    @classmethod
    def _no_cash_flow(cls, policy: RebalancePolicy) -> RebalancePolicy:
        if policy.cash_flow != 0:
            raise ValueError("a backtest has no cash flows: policy.cash_flow must be 0")
        return policy

    @model_validator(mode="after")
    def _consistent(self) -> BacktestRequest:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if self.initial_value is not None and self.initial != "targets":
            raise ValueError("initial_value applies only when initial is 'targets'")
        if self.policies is not None:
            labels = [p.label for p in self.policies]
            dupes = sorted({x for x in labels if labels.count(x) > 1})
            if dupes:
                raise ValueError(f"policy names must be unique; repeated: {', '.join(dupes)}")
        return self


class BacktestRebalance(ResultModel):
    """One decision date on which trades happened."""

    date: dt.date
    turnover: float = Field(description="One-way turnover of this rebalance: buys / value.")
    cost: float
    n_trades: int


class BacktestPolicyResult(ResultModel):
    name: str
    kind: PolicyKind
    equity: SeriesPoint = Field(description="Portfolio value (holdings plus cash) at the start and every period end.")
    end_value: float
    total_return: float
    cagr: float | None
    volatility: float | None
    max_drawdown: float | None = Field(description="Positive fraction lost, peak to trough.")
    metrics: RiskMetrics = Field(description="All METRICS.md figures of the equity curve's returns.")
    total_turnover: float = Field(description="Sum of each rebalance's one-way turnover.")
    annualised_turnover: float = Field(description="total_turnover / years in the window.")
    total_costs: float = Field(description="Money paid in transaction costs (the rebalancer's cost model).")
    n_rebalances: int = Field(description="Decision dates on which at least one trade happened.")
    n_decisions: int = Field(description="Dates on which the rebalancer was consulted.")
    n_trades: int
    n_target_fallbacks: int = Field(default=0, description="'targets': decisions that kept the strategic targets.")
    rebalances: list[BacktestRebalance]
    warnings: list[str] = Field(default_factory=list)


class BacktestResult(ResultModel):
    portfolio_name: str
    start: dt.date
    end: dt.date
    window: DataWindow
    initial: Literal["targets", "holdings"]
    initial_value: float = Field(description="Value at the start, identical for every policy.")
    policies: list[BacktestPolicyResult]
    proxies: dict[str, str] = Field(default_factory=dict)
    uncovered: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
