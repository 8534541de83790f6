"""``POST /api/risk`` and ``POST /api/stress``: risk metrics and stress tests."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from api import examples
from api.envelope import respond
from api.jsonio import json_body
from api.models import RiskReportResponse, SeriesRiskResponse, StressResponse
from api.registry import DocumentedBlueprint, Endpoint
from engine import service
from engine.schemas import RiskRequest, SeriesRiskRequest, StressRequest

bp = DocumentedBlueprint("analysis", __name__)

RISK_DESCRIPTION = (
    "Two forms. Holdings ({\"portfolio\": …}) with bundled symbols: the full risk report before (and after, "
    "given post_trade_weights) on the same dates. Raw series ({\"returns\": […]}): the METRICS.md fields by "
    "name, null where undefined."
)
STRESS_DESCRIPTION = (
    "Monte Carlo (method gaussian/bootstrap/block_bootstrap, paths, horizon, seed; null to skip) and "
    "named historical scenarios (ids from GET /api/scenarios, or [\"all\"])."
)


@bp.operation(Endpoint("POST", "/api/risk", "Risk metrics of holdings or of a raw return series.",
                       RISK_DESCRIPTION, tag="risk", body=(RiskRequest, SeriesRiskRequest),
                       responses=(RiskReportResponse, SeriesRiskResponse), engine_errors=True,
                       examples={"series": examples.RISK_SERIES, "holdings": examples.RISK_HOLDINGS}))
def risk() -> Response:
    body = json_body()
    # Form dispatch only: which engine function validates the body is decided by its shape.
    if isinstance(body, Mapping) and "returns" in body and "portfolio" not in body:
        return respond(service.analyse_series(body))
    return respond(service.analyse_risk(body))


@bp.operation(Endpoint("POST", "/api/stress", "Monte Carlo stress test and historical scenario replays.",
                       STRESS_DESCRIPTION, tag="stress", body=(StressRequest,), responses=(StressResponse,),
                       engine_errors=True, examples={"stress": examples.STRESS}))
def stress() -> Response:
    return respond(service.stress_test(json_body()))
