"""The pipeline's declared stages: one table that the runner, the blueprint and the GUI all read.

Each stage names the engine function that does its work, so the blueprint reports what the
software really does (and whether each stage's implementation is present), not prose.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from engine import __version__
from engine.governance.controls import CONTROLS


@dataclass(frozen=True)
class StageSpec:
    name: str
    agent: str
    role: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    entry_point: str  # "module:function"
    stage: str = ""  # "module:Class" of the pipeline stage wrapping entry_point (engine.pipeline.stages)

    def implemented(self) -> bool:
        module, _, func = self.entry_point.partition(":")
        try:
            return callable(getattr(importlib.import_module(module), func, None))
        except ImportError:
            return False


STAGES: tuple[StageSpec, ...] = (
    StageSpec("supervisor", "Supervisor Agent", "Validates the request and fixes the run's policy and limits.",
              ("portfolio", "policy", "control_policy"), ("validated_request", "strategic_targets"), "engine.service:validate",
              "engine.pipeline.stages:SupervisorStage"),
    StageSpec("market_data", "Market Data Agent", "Aligns the holdings' return histories (METRICS.md alignment).",
              ("portfolio",), ("returns_frame", "data_warnings"), "engine.market_data:portfolio_returns",
              "engine.pipeline.stages:MarketDataStage"),
    StageSpec("forecast", "Forecast Agent", "Confidence-weighted momentum / mean-reversion / EWMA ensemble.",
              ("returns_frame",), ("expected_returns", "confidence", "skill"), "engine.forecast:forecast",
              "engine.pipeline.stages:ForecastStage"),
    StageSpec("risk", "Risk Agent", "Risk of the book as it stands (METRICS.md metrics, contributions).",
              ("portfolio", "returns_frame"), ("risk_report", "covariance"), "engine.risk_report:risk_report",
              "engine.pipeline.stages:RiskStage"),
    StageSpec("optimizer", "Rebalance Optimizer Agent",
              "Convex tilt of the strategic targets under turnover, deviation and class bounds.",
              ("expected_returns", "confidence", "covariance", "strategic_targets"), ("optimised_targets",),
              "engine.optimize:optimize_targets", "engine.pipeline.stages:OptimizerStage"),
    StageSpec("execution", "Execution Agent", "Trades with bands, lots, turnover cap and costs.",
              ("portfolio", "optimised_targets", "policy"), ("trades", "totals", "cost_estimate"),
              "engine.rebalance:rebalance", "engine.pipeline.stages:ExecutionStage"),
    StageSpec("supervisor_approval", "Supervisor Agent", "Pre-trade controls, then an explicit approve or reject.",
              ("portfolio", "returns_frame", "trades", "control_policy"), ("post_trade_risk", "control_report", "decision"),
              "engine.governance.controls:run_controls", "engine.pipeline.stages:ApprovalStage"),
)

FLOW_TEXT = "Supervisor -> Data -> Forecast -> Risk -> Optimizer -> Execution -> Supervisor Approval"


def blueprint() -> dict:
    """The seed's multi-agent blueprint, generated from :data:`STAGES` and the declared controls."""
    return {
        "name": "smart-portfolio-rebalancer pipeline",
        "engine_version": __version__,
        "flow": [s.name for s in STAGES],
        "flow_text": FLOW_TEXT,
        "stages": [
            {
                "name": s.name,
                "agent": s.agent,
                "role": s.role,
                "inputs": list(s.inputs),
                "outputs": list(s.outputs),
                "entry_point": s.entry_point,
                "implemented": s.implemented(),
            }
            for s in STAGES
        ],
        "governance": {
            "pre_trade_controls": [
                {"name": c.name, "description": c.description, "hard": c.hard} for c in CONTROLS
            ],
            "approval": "every hard control must pass, then an explicit approve with a note",
        },
    }
