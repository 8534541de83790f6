"""The OpenAPI 3.1 document, generated from the route registry and pydantic's own JSON Schema.

Nothing here is a hand-written schema: request bodies are the engine's request models
(validation mode), answers are the envelopes of :mod:`api.models` (serialisation mode), and
the error body is :class:`api.models.ErrorResponse`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import engine
from api.envelope import REQUEST_ID_HEADER
from api.models import ErrorResponse
from api.registry import Endpoint

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
SECURITY_SCHEME = "bearerAuth"

# (status, when it is documented, description)
_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("400", "body", "Not JSON, wrong content type, malformed JSON, NaN/Infinity, or invalid fields."),
    ("401", "auth", "Missing or wrong bearer token."),
    ("413", "body", "The request body exceeds the size limit."),
    ("422", "engine_errors", "Valid request, but the data cannot support it (data error, too little history)."),
)


def _schemas(endpoints: Sequence[Endpoint]) -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    pairs: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorResponse, "serialization"): None}
    for spec in endpoints:
        pairs.update(dict.fromkeys((m, "validation") for m in spec.body))
        pairs.update(dict.fromkeys((m, "serialization") for m in spec.responses))
    refs, defs = models_json_schema(list(pairs), ref_template=REF_TEMPLATE)
    return refs, defs.get("$defs", {})


def _one_of(refs: list[dict[str, Any]]) -> dict[str, Any]:
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {REQUEST_ID_HEADER: {"$ref": f"#/components/headers/{REQUEST_ID_HEADER}"}},
        "content": {"application/json": {"schema": schema}},
    }


def _operation(spec: Endpoint, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{spec.method.lower()}_{spec.path.strip('/').replace('/', '_').replace('-', '_') or 'index'}",
        "summary": spec.summary,
        "tags": [spec.tag],
    }
    if spec.description:
        op["description"] = spec.description
    if not spec.auth:
        op["security"] = []
    if spec.body:
        media: dict[str, Any] = {"schema": _one_of([refs[(m, "validation")] for m in spec.body])}
        if spec.examples:
            media["examples"] = {name: {"value": value} for name, value in spec.examples.items()}
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
    if spec.media_type == "application/json":
        schema = _one_of([refs[(m, "serialization")] for m in spec.responses]) if spec.responses else {"type": "object"}
        responses = {"200": _json_response("OK", schema)}
    else:
        responses = {"200": {"description": "OK", "content": {spec.media_type: {"schema": {"type": "string"}}}}}
    error_ref = refs[(ErrorResponse, "serialization")]
    for status, when, description in _ERRORS:
        if (when == "body" and spec.body) or (when == "auth" and spec.auth) or getattr(spec, when, False) is True:
            responses[status] = _json_response(description, error_ref)
    op["responses"] = responses
    return op


def build_document(endpoints: Iterable[Endpoint], *, title: str = "Smart Portfolio Rebalancer API") -> dict[str, Any]:
    """The whole document for ``endpoints`` (JSON-ready; the caller adds nothing but extensions)."""
    endpoints = list(endpoints)
    refs, defs = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for spec in endpoints:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": engine.__version__,
            "description": "Local REST face of the rebalancing engine: parse, call engine.service, serialise. "
                           "Every JSON answer carries `metadata`; every answer an X-Request-ID header.",
        },
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "bearer",
                                  "description": "The token printed at start-up (or $REBALANCER_API_TOKEN)."},
            },
            "headers": {
                REQUEST_ID_HEADER: {"description": "The request id, also in metadata.request_id.",
                                    "schema": {"type": "string"}},
            },
        },
    }
