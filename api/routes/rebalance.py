"""``POST /api/rebalance``: the seed's payload verbatim, or the engine's holdings form."""

from __future__ import annotations

from flask import Response

from api import examples
from api.envelope import respond
from api.jsonio import json_body
from api.models import RebalanceResponse
from api.registry import DocumentedBlueprint, Endpoint
from engine import service
from engine.schemas import RebalanceRequest, SeedRebalanceRequest

bp = DocumentedBlueprint("rebalance", __name__)

DESCRIPTION = (
    "Per asset: action, trade value, units, cost, post-trade weight and drift; totals (turnover, costs, "
    "residual cash, limits that bound); risk before and after (METRICS.md fields); a Monte Carlo stress "
    "summary (probability of loss, 5th-percentile terminal value). The seed form ({\"assets\": …}) drifts "
    "current_weight by market_return first and holds unallocated weight as cash."
)


@bp.operation(Endpoint("POST", "/api/rebalance", "Rebalance a portfolio: trades, risk before/after, stress.",
                       DESCRIPTION, tag="rebalance", body=(SeedRebalanceRequest, RebalanceRequest),
                       responses=(RebalanceResponse,), engine_errors=True,
                       examples={"seed": examples.SEED_REBALANCE, "engine": examples.ENGINE_REBALANCE}))
def rebalance() -> Response:
    return respond(service.rebalance_report(json_body()))
