"""``GET /api/health``: open to all, so monitors need no token."""

from __future__ import annotations

import time

from flask import Response, current_app

import engine
from api.envelope import respond
from api.models import HealthResponse
from api.registry import DocumentedBlueprint, Endpoint

STARTED_KEY = "api.started"

bp = DocumentedBlueprint("health", __name__)


@bp.operation(Endpoint("GET", "/api/health", "Liveness: status, version and uptime.", tag="operations",
                       responses=(HealthResponse,), auth=False))
def health() -> Response:
    uptime = time.monotonic() - current_app.extensions[STARTED_KEY]
    return respond({"status": "ok", "version": engine.__version__, "uptime_seconds": round(uptime, 3)})
