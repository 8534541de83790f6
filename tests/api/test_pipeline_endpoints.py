"""The governed pipeline over HTTP: run, list, read, approve or reject with a note; the registry and audit trail."""

from __future__ import annotations

import csv
import io
import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import examples
from engine import service
from engine.pipeline.definition import STAGES
from tests.api.conftest import AUTH, post_json, without_metadata

RUNS = "/api/pipeline/runs"
NOTE = {"user": "bob", "note": "Tilt reviewed with the client; every control passes."}


@pytest.fixture
def portfolio() -> dict[str, Any]:
    return service.sample_portfolio("P3_PRE_COVID_DIVERSIFIED").model_dump(mode="json")


def _run(client: FlaskClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = post_json(client, RUNS, payload)
    assert response.status_code == 201, response.json
    assert response.headers["Location"] == f"{RUNS}/{response.json['run_id']}"
    return response.json


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.json
    assert response.mimetype == "application/json"
    return without_metadata(response.json)["error"]


def _refused(run_id: str, action: str, status: str, why: str) -> dict[str, Any]:
    msg = (f"run {run_id} cannot be {action}d: its status is '{status}' ({why}); only a run awaiting approval "
           "can be")
    return {"code": "approval_refused", "message": msg,
            "details": [{"loc": ["run_id"], "msg": msg, "type": "approval_refused"}]}


def test_run_list_read_then_approve_with_a_note(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    run = _run(client, {"portfolio": portfolio, "label": "Year-end review"})
    run_id = run["run_id"]
    assert run["status"] == "awaiting_approval" and run["label"] == "Year-end review"
    assert [s["name"] for s in run["stages"]] == [s.name for s in STAGES]
    assert all(s["status"] == "ok" for s in run["stages"])
    assert run["controls"]["approvable"] is True and run["controls"]["n_fail"] == 0
    assert run["target_source"] == "optimised" and run["decision"] is None and run["execution"] is None
    n_trades = run["proposal"]["totals"]["n_trades"]
    assert n_trades == 6

    listed = client.get(RUNS, headers=AUTH).json["runs"]
    assert [(r["run_id"], r["status"], r["label"], r["n_stages"], r["n_trades"], r["approvable"]) for r in listed] == [
        (run_id, "awaiting_approval", "Year-end review", len(STAGES), n_trades, True)]
    assert without_metadata(client.get(f"{RUNS}/{run_id}", headers=AUTH).json) == without_metadata(run)

    missing_note = post_json(client, f"{RUNS}/{run_id}/approve", {"user": "bob"})
    assert _error(missing_note, 400) == {"code": "validation_error", "message": "1 invalid field",
                                         "details": [{"loc": ["note"], "msg": "Field required", "type": "missing"}]}
    blank_note = post_json(client, f"{RUNS}/{run_id}/approve", {"user": "bob", "note": "   "})
    assert _error(blank_note, 400)["details"] == [
        {"loc": ["note"], "msg": "String should have at least 1 character", "type": "string_too_short"}]
    assert client.get(f"{RUNS}/{run_id}", headers=AUTH).json["status"] == "awaiting_approval"  # nothing decided

    approved = post_json(client, f"{RUNS}/{run_id}/approve", NOTE)
    assert approved.status_code == 200
    body = approved.json
    assert body["status"] == "approved"
    assert {k: body["decision"][k] for k in ("action", "user", "note")} == {"action": "approve", **NOTE}
    assert body["execution"]["totals"]["n_fills"] == n_trades  # simulated fills of every trade, with TCA
    assert body["execution"]["totals"]["simulated_cost"] > 0
    assert without_metadata(client.get(f"{RUNS}/{run_id}", headers=AUTH).json) == without_metadata(body)

    again = post_json(client, f"{RUNS}/{run_id}/approve", NOTE)
    assert _error(again, 409) == _refused(run_id, "approve", "approved", "it is already approved")
    late_reject = post_json(client, f"{RUNS}/{run_id}/reject", NOTE)
    assert _error(late_reject, 409) == _refused(run_id, "reject", "approved", "it is already approved")


def test_a_blocked_run_cannot_be_approved_or_rejected(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    run = _run(client, {"portfolio": portfolio, "controls": {"do_not_sell": ["SPY"]}})
    assert run["status"] == "blocked" and run["controls"]["approvable"] is False
    failed = [(c["control"], c["reason"]) for c in run["controls"]["results"] if c["status"] == "fail"]
    assert failed == [("restricted_list", "restricted trades: SELL SPY")]
    for action in ("approve", "reject"):
        response = post_json(client, f"{RUNS}/{run['run_id']}/{action}", NOTE)
        assert _error(response, 409) == _refused(run["run_id"], action, "blocked", "a hard pre-trade control failed")
    assert client.get(f"{RUNS}/{run['run_id']}", headers=AUTH).json["decision"] is None


def test_reject_is_recorded_with_its_note_and_ends_the_run(client: FlaskClient) -> None:
    run = _run(client, examples.PIPELINE_RUN)  # the documented example
    assert run["status"] == "awaiting_approval"
    rejected = post_json(client, f"{RUNS}/{run['run_id']}/reject", examples.REJECT)
    assert rejected.status_code == 200
    body = rejected.json
    assert body["status"] == "rejected" and body["execution"] is None
    assert {k: body["decision"][k] for k in ("action", "user", "note")} == {"action": "reject", **examples.REJECT}
    approve = post_json(client, f"{RUNS}/{run['run_id']}/approve", examples.APPROVE)
    assert _error(approve, 409) == _refused(run["run_id"], "approve", "rejected", "it is already rejected")


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/approve"), ("POST", "/reject")])
def test_unknown_run_id_is_404(client: FlaskClient, method: str, suffix: str) -> None:
    response = client.open(f"{RUNS}/20990101T000000-0000000000{suffix}", method=method, headers=AUTH, json=NOTE)
    msg = "no pipeline run '20990101T000000-0000000000'"
    assert _error(response, 404) == {"code": "not_found", "message": msg,
                                     "details": [{"loc": ["run_id"], "msg": msg, "type": "not_found"}]}


def test_invalid_pipeline_request_is_400_and_creates_no_run(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    response = post_json(client, RUNS, {"portfolio": portfolio, "controls": {"max_turnover": 2}})
    assert _error(response, 400)["details"] == [
        {"loc": ["controls", "max_turnover"], "msg": "Input should be less than or equal to 1", "type": "less_than_equal"}]
    assert client.get(RUNS, headers=AUTH).json["runs"] == []


def test_run_list_filters_pages_and_validates_its_query(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    first = _run(client, {"portfolio": portfolio, "label": "first"})
    second = _run(client, {"portfolio": portfolio, "label": "second", "controls": {"do_not_sell": ["SPY"]}})

    def ids(query: str) -> list[str]:
        response = client.get(f"{RUNS}{query}", headers=AUTH)
        assert response.status_code == 200, response.json
        return [r["run_id"] for r in response.json["runs"]]

    assert ids("") == [second["run_id"], first["run_id"]]  # newest first
    assert ids("?limit=1") == [second["run_id"]] and ids("?limit=1&offset=1") == [first["run_id"]]
    assert ids("?status=blocked") == [second["run_id"]] and ids("?status=approved") == []
    bad = client.get(f"{RUNS}?status=done&limit=0&offset=x", headers=AUTH)
    assert _error(bad, 400) == {"code": "validation_error", "message": "3 invalid fields", "details": [
        {"loc": ["query", "status"], "type": "literal_error",
         "msg": "Input should be 'running', 'awaiting_approval', 'blocked', 'approved', 'rejected', 'failed' "
                "or 'incomplete'"},
        {"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "type": "greater_than_equal"},
        {"loc": ["query", "offset"], "msg": "Input should be a valid integer, unable to parse string as an integer",
         "type": "int_parsing"}]}


def test_models_after_a_run_list_the_ensemble_with_its_evaluation(client: FlaskClient,
                                                                  portfolio: dict[str, Any]) -> None:
    run = _run(client, {"portfolio": portfolio})
    models = client.get("/api/models", headers=AUTH).json["models"]
    assert [(m["name"], m["version"], m["role"], m["approval"]) for m in models] == [
        ("ensemble", 1, "champion", "approved")]
    (model,) = models
    # The evaluation stored with the version is the walk-forward skill the run's Forecast stage measured.
    assert model["evaluation"] == run["skill"]
    assert model["params_hash"] == run["skill"]["params_hash"] and len(model["params_hash"]) == 64
    assert model["params"]["short_window"] == run["skill"]["settings"]["short_window"] == 2
    assert client.get("/api/models?name=ensemble", headers=AUTH).json["models"] == models
    assert client.get("/api/models?name=other", headers=AUTH).json["models"] == []


def test_audit_lists_a_runs_entries_in_order_and_verifies(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    run = _run(client, {"portfolio": portfolio})
    assert post_json(client, f"{RUNS}/{run['run_id']}/approve", NOTE).status_code == 200
    entries = client.get("/api/audit", headers=AUTH).json["entries"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert [e["kind"] for e in entries] == [
        "pipeline_run_started", "pipeline_stage", "pipeline_stage", "model_change", "model_change",
        *["pipeline_stage"] * 5, "pipeline_run_completed", "approval"]
    assert entries[0]["prev_hash"] == "0" * 64
    assert all(e["prev_hash"] == before["hash"] for before, e in itertools.pairwise(entries))
    run_entries = [e for e in entries if e["kind"] != "model_change"]
    assert {e["subject"] for e in run_entries} == {run["run_id"]}
    assert (entries[-1]["user"], entries[-1]["payload"]["note"], entries[-1]["payload"]["status"]) == (
        "bob", NOTE["note"], "approved")
    assert client.get("/api/audit?kind=approval", headers=AUTH).json["entries"] == [entries[-1]]
    assert client.get("/api/audit?limit=2&offset=3", headers=AUTH).json["entries"] == entries[3:5]
    verify = client.get("/api/audit/verify", headers=AUTH).json
    assert without_metadata(verify) == {"ok": True, "entries": len(entries), "problems": []}


def test_verify_reports_an_edited_entry(client: FlaskClient, portfolio: dict[str, Any], data_dir: Path) -> None:
    _run(client, {"portfolio": portfolio})
    with sqlite3.connect(data_dir / "audit.sqlite3") as db:  # tampering around the append-only triggers
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit_log SET user = 'mallory' WHERE seq = 2")
    verify = client.get("/api/audit/verify", headers=AUTH).json
    assert without_metadata(verify) == {"ok": False, "entries": 11,
                                        "problems": ["entry 2: content does not match its hash (edited)"]}


def test_audit_export_is_csv_and_is_itself_audited(client: FlaskClient, portfolio: dict[str, Any]) -> None:
    _run(client, {"portfolio": portfolio})
    entries = client.get("/api/audit", headers=AUTH).json["entries"]
    response = client.get("/api/audit/export", headers=AUTH)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    assert response.headers["X-Request-ID"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["seq", "ts", "user", "kind", "subject", "payload", "prev_hash", "hash"]
    assert [(int(r[0]), r[3], r[7]) for r in rows[1:]] == [(e["seq"], e["kind"], e["hash"]) for e in entries]
    (export,) = client.get("/api/audit?kind=export", headers=AUTH).json["entries"]
    assert export["seq"] == len(entries) + 1 and export["payload"] == {"what": "audit_log", "entries": len(entries)}
    assert client.get("/api/audit/verify", headers=AUTH).json["ok"] is True


def test_blueprint_is_generated_from_the_pipeline_the_runs_execute(client: FlaskClient,
                                                                   portfolio: dict[str, Any]) -> None:
    blueprint = client.get("/api/multi-agent-blueprint", headers=AUTH).json
    run = _run(client, {"portfolio": portfolio})
    assert blueprint["flow"] == [s["name"] for s in run["stages"]]
    assert all(stage["implemented"] for stage in blueprint["stages"])
    assert [c["name"] for c in blueprint["governance"]["pre_trade_controls"]] == [
        c["control"] for c in run["controls"]["results"]]


def test_document_describes_the_run_routes_parameters_and_statuses(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json", headers=AUTH).json["paths"]
    create = paths[RUNS]["post"]["responses"]
    assert sorted(create) == ["201", "400", "401", "413", "422"]
    assert set(create["201"]["headers"]) == {"X-Request-ID", "Location"}
    listing = paths[RUNS]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in listing["parameters"]] == [
        ("status", "query", False), ("limit", "query", False), ("offset", "query", False)]
    assert listing["parameters"][0]["schema"]["enum"] == [
        "running", "awaiting_approval", "blocked", "approved", "rejected", "failed", "incomplete"]
    assert listing["parameters"][1]["schema"] == {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 100}
    approve = paths[RUNS + "/{run_id}/approve"]["post"]
    assert approve["parameters"] == [{"name": "run_id", "in": "path", "required": True,
                                      "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}]
    assert sorted(approve["responses"]) == ["200", "400", "401", "404", "409", "413"]
    assert approve["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DecisionRequest"}
    assert sorted(paths[RUNS + "/{run_id}"]["get"]["responses"]) == ["200", "401", "404"]
    assert set(paths["/api/audit/export"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
