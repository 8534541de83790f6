"""The governed pipeline: what a run is asked to do, and the record it leaves.

A :class:`RunRecord` is written to the run store when the run starts (status ``running``) and
rewritten whole after every stage, so a reader never sees a half-written record; it carries
each stage's inputs, outputs, timing, decisions and warnings (cvxportfolio's habit: results
carry their own logs and timings).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from engine.schemas.ai import ForecastResult, ForecastSettings, OptimizedTargets, OptimizeSettings, SkillReport
from engine.schemas.base import ResultModel, StrictModel
from engine.schemas.execution import ExecutionReport, ExecutionSettings
from engine.schemas.governance import ControlPolicy, ControlReport
from engine.schemas.policy import RebalancePolicy, RiskSettings
from engine.schemas.portfolio import Portfolio
from engine.schemas.results import RebalanceResult, RiskMetrics

RunStatus = Literal["running", "awaiting_approval", "blocked", "approved", "rejected", "failed", "incomplete"]
StageStatus = Literal["ok", "failed"]
TargetSource = Literal["optimised", "strategic"]

#: Statuses a run never leaves.
FINAL_STATUSES: tuple[str, ...] = ("approved", "rejected", "blocked", "failed", "incomplete")


class PipelineRequest(StrictModel):
    """One pipeline run: the book, how to rebalance it, and the limits the supervisor enforces."""

    portfolio: Portfolio
    policy: RebalancePolicy = Field(default_factory=RebalancePolicy)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    optimize: OptimizeSettings = Field(default_factory=OptimizeSettings)
    controls: ControlPolicy = Field(default_factory=ControlPolicy)
    execution: ExecutionSettings = Field(
        default_factory=ExecutionSettings, description="Cost and slippage model of the pre-trade estimate "
                                                       "and of the simulated fills after approval.")
    use_ai_targets: bool = Field(
        default=True, description="Trade towards the optimised targets (when confidence allows); "
                                  "False keeps the strategic targets.")
    require_skill: bool = Field(
        default=False, description="Keep the strategic targets unless the walk-forward evaluation on this "
                                   "history shows weak or moderate skill.")
    label: Annotated[str, Field(max_length=200)] = Field(default="", description="Free text shown in run lists.")


class StageRecord(ResultModel):
    """What one agent did: its inputs in brief, its outputs, its decisions, warnings and timing."""

    name: str
    agent: str
    started_at: dt.datetime
    duration_ms: float
    status: StageStatus
    input_summary: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    decisions: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Error type and message when the stage failed.")


class RunError(ResultModel):
    stage: str
    type: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class RunDecision(ResultModel):
    """The user's approve or reject, with the note that justifies it."""

    action: Literal["approve", "reject"]
    user: str
    note: str
    at: dt.datetime


class DecisionRequest(StrictModel):
    """A user's approve or reject of a run awaiting approval (``approve_run`` / ``reject_run``).

    Both fields are required and must hold more than whitespace: the note is the reason an
    auditor reads beside the decision.
    """

    user: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Who decides; recorded with the run and in the audit trail.")
    note: Annotated[str, Field(min_length=1, max_length=4000)] = Field(description="Why.")


class RunRecord(ResultModel):
    run_id: str
    status: RunStatus
    user: str
    label: str = ""
    engine_version: str
    created_at: dt.datetime
    updated_at: dt.datetime
    duration_ms: float | None = Field(default=None, description="Wall time of the stages, once they finished.")
    request: PipelineRequest
    stages: list[StageRecord] = Field(default_factory=list)
    forecast: ForecastResult | None = None
    skill: SkillReport | None = Field(default=None, description="Walk-forward skill of the forecast on this history.")
    optimisation: OptimizedTargets | None = None
    target_source: TargetSource | None = None
    target_reason: str | None = None
    targets: dict[str, float] | None = Field(default=None, description="The targets the proposal trades towards.")
    risk_before: RiskMetrics | None = None
    risk_after: RiskMetrics | None = None
    proposal: RebalanceResult | None = None
    controls: ControlReport | None = None
    decision: RunDecision | None = None
    execution: ExecutionReport | None = Field(
        default=None, description="Simulated fills and transaction-cost analysis, after approval.")
    error: RunError | None = None
    warnings: list[str] = Field(default_factory=list)


class RunSummary(ResultModel):
    """A row of the run list."""

    run_id: str
    status: RunStatus
    user: str
    label: str
    portfolio: str
    created_at: dt.datetime
    updated_at: dt.datetime
    n_stages: int
    target_source: TargetSource | None
    n_trades: int | None
    approvable: bool | None
