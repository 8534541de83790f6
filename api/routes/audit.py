"""The audit trail: its entries, the verification of its hash chain, and its CSV export."""

from __future__ import annotations

import dataclasses

from flask import Response, current_app

from api.envelope import respond
from api.models import AuditListResponse, AuditVerifyResponse
from api.params import AuditQuery, query_params
from api.registry import DocumentedBlueprint, Endpoint
from engine import service

bp = DocumentedBlueprint("audit", __name__)

CSV_FILENAME = "audit-log.csv"

AUDIT_DESCRIPTION = (
    "The append-only log: pipeline runs and their stages, approvals and rejections, exports, configuration "
    "and model changes, each with time, user and the hash of the entry before it."
)
VERIFY_DESCRIPTION = "Recomputes the hash chain: ok is false, and problems names them, if any entry was edited or deleted."
EXPORT_DESCRIPTION = (
    "The whole log as CSV (seq, ts, user, kind, subject, payload as JSON, prev_hash, hash), as an "
    f"attachment named {CSV_FILENAME}. The export is itself recorded in the log, under the user running the server."
)


@bp.operation(Endpoint("GET", "/api/audit", "Audit trail entries, in sequence order.", AUDIT_DESCRIPTION,
                       tag="governance", query=AuditQuery, responses=(AuditListResponse,)))
def entries() -> Response:
    return respond({"entries": service.audit_entries(**query_params().model_dump())})


@bp.operation(Endpoint("GET", "/api/audit/verify", "Verify the audit trail's hash chain.", VERIFY_DESCRIPTION,
                       tag="governance", responses=(AuditVerifyResponse,)))
def verify() -> Response:
    return respond(dataclasses.asdict(service.verify_audit()))


@bp.operation(Endpoint("GET", "/api/audit/export", "Export the audit trail as CSV.", EXPORT_DESCRIPTION,
                       tag="governance", media_type="text/csv"))
def export() -> Response:
    return current_app.response_class(
        service.export_audit(), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{CSV_FILENAME}"'})
