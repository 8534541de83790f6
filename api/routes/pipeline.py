"""The agent pipeline: its generated blueprint, runs, and the supervisor's approve or reject."""

from __future__ import annotations

from flask import Response, url_for

from api import examples
from api.envelope import respond
from api.jsonio import json_body
from api.models import BlueprintResponse, RunListResponse, RunResponse
from api.params import RunListQuery, query_params
from api.registry import DocumentedBlueprint, Endpoint
from engine import service
from engine.schemas.pipeline import DecisionRequest, PipelineRequest

bp = DocumentedBlueprint("pipeline", __name__)

RUN_DESCRIPTION = (
    "Supervisor → Market Data → Forecast → Risk → Optimizer → Execution → Supervisor approval, recorded "
    "stage by stage (inputs in brief, outputs, decisions, warnings, timing) and in the audit trail, under "
    "the user running the server. Answers 201 with the run record and its Location. status is "
    "'awaiting_approval' when every hard pre-trade control passed, 'blocked' when one failed, 'failed' "
    "when a stage could not run (error says which and why)."
)
DECISION_DESCRIPTION = (
    "Body: the deciding user and a note, both required. Only a run awaiting approval can be decided (409 "
    "otherwise: blocked, or already decided); the decision is stored in the run and the audit trail."
)
NOT_FOUND = (404, "No pipeline run with that id.")
REFUSED = (409, "The run is not awaiting approval: a hard control blocked it, or it was already decided.")


@bp.operation(Endpoint("GET", "/api/multi-agent-blueprint", "The multi-agent pipeline and its governance controls.",
                       "Generated from the engine's declared pipeline stages and pre-trade controls, not prose.",
                       tag="pipeline", responses=(BlueprintResponse,)))
def multi_agent_blueprint() -> Response:
    return respond(service.multi_agent_blueprint())


@bp.operation(Endpoint("POST", "/api/pipeline/runs", "Run the agent pipeline on a portfolio.", RUN_DESCRIPTION,
                       tag="pipeline", body=(PipelineRequest,), responses=(RunResponse,), status=201,
                       engine_errors=True, examples={"run": examples.PIPELINE_RUN}))
def create_run() -> Response:
    record = service.run_pipeline(json_body())
    return respond(record, 201, headers={"Location": url_for(".get_run", run_id=record.run_id)})


@bp.operation(Endpoint("GET", "/api/pipeline/runs", "Pipeline runs, newest first.",
                       "One summary row per run; filter by status, page with limit and offset.",
                       tag="pipeline", query=RunListQuery, responses=(RunListResponse,)))
def list_runs() -> Response:
    return respond({"runs": [s.model_dump(mode="json") for s in service.list_runs(**query_params().model_dump())]})


@bp.operation(Endpoint("GET", "/api/pipeline/runs/<run_id>", "One pipeline run's whole record.",
                       tag="pipeline", responses=(RunResponse,), errors=(NOT_FOUND,)))
def get_run(run_id: str) -> Response:
    return respond(service.get_run(run_id))


@bp.operation(Endpoint("POST", "/api/pipeline/runs/<run_id>/approve",
                       "Approve a run, with a note; its execution is then simulated, with TCA.",
                       DECISION_DESCRIPTION + " An approval adds the simulated fills and transaction-cost analysis.",
                       tag="pipeline", body=(DecisionRequest,), responses=(RunResponse,),
                       errors=(NOT_FOUND, REFUSED), examples={"approve": examples.APPROVE}))
def approve_run(run_id: str) -> Response:
    decision = service.validate(DecisionRequest, json_body())
    return respond(service.approve_run(run_id, user=decision.user, note=decision.note))


@bp.operation(Endpoint("POST", "/api/pipeline/runs/<run_id>/reject", "Reject a run, with a note.",
                       DECISION_DESCRIPTION, tag="pipeline", body=(DecisionRequest,), responses=(RunResponse,),
                       errors=(NOT_FOUND, REFUSED), examples={"reject": examples.REJECT}))
def reject_run(run_id: str) -> Response:
    decision = service.validate(DecisionRequest, json_body())
    return respond(service.reject_run(run_id, user=decision.user, note=decision.note))
