"""``GET /``: a small HTML page; ``GET /api/openapi.json``: the OpenAPI 3.1 document."""

from __future__ import annotations

import json

from flask import Response, current_app, render_template, request

from api.envelope import metadata
from api.openapi import build_document
from api.registry import DocumentedBlueprint, Endpoint, declared_endpoints

bp = DocumentedBlueprint("docs", __name__)
DOCUMENT_KEY = "api.openapi"


def openapi_document() -> dict:
    """The app's document, built once (the route table and models do not change at run time)."""
    if DOCUMENT_KEY not in current_app.extensions:
        current_app.extensions[DOCUMENT_KEY] = build_document(declared_endpoints())
    return current_app.extensions[DOCUMENT_KEY]


def _query_fields(spec: Endpoint) -> list[tuple[str, str]]:
    """(name, description) of each query parameter the route takes."""
    if spec.query is None:
        return []
    return [(name, field.description or "") for name, field in spec.query.model_fields.items()]


@bp.operation(Endpoint("GET", "/api/openapi.json", "This API's OpenAPI 3.1 document.", tag="docs",
                       description="Answer metadata is under the `x-metadata` extension key."))
def openapi() -> Response:
    document = {**openapi_document(), "x-metadata": metadata()}
    return current_app.response_class(current_app.json.dumps(document), mimetype="application/json")


@bp.operation(Endpoint("GET", "/", "What this API is, each endpoint with an example, and a link to the document.",
                       tag="docs", media_type="text/html", auth=False))
def index() -> str:
    endpoints = [
        (spec, {name: json.dumps(value, indent=2) for name, value in spec.examples.items()}, _query_fields(spec))
        for spec in declared_endpoints()
    ]
    return render_template("index.html", endpoints=endpoints, metadata=metadata(),
                           base_url=request.host_url.rstrip("/"))
