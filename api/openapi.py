"""The OpenAPI 3.1 document, generated from the route registry and pydantic's own JSON Schema.

Nothing here is a hand-written schema: request bodies are the engine's request models
(validation mode), answers are the envelopes of :mod:`api.models` (serialisation mode), and
the error body is :class:`api.models.ErrorResponse`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
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
_ERRORS: tuple[tuple[int, Callable[[Endpoint], bool], str], ...] = (
    (400, lambda spec: bool(spec.body),
     "Not JSON, wrong content type, malformed JSON, NaN/Infinity, or invalid fields."),
    (400, lambda spec: spec.query is not None, "Invalid query parameters."),
    (401, lambda spec: spec.auth, "Missing or wrong bearer token."),
    (413, lambda spec: bool(spec.body), "The request body exceeds the size limit."),
    (422, lambda spec: spec.engine_errors,
     "Valid request, but the data cannot support it (data error, too little history)."),
)
_SUCCESS = {200: "OK", 201: "Created"}


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


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is given or left out: it has no ``null`` form to document."""
    branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if rest.get("default", "") is None:
        del rest["default"]
    return {**branches[0], **rest}


def _parameters(spec: Endpoint) -> list[dict[str, Any]]:
    """Path parameters (strings: Flask's default converter, one segment), then the query model's fields."""
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
        for name in spec.path_params
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF_TEMPLATE)
        if "$defs" in schema:  # a query string is flat: a nested model would need a component
            raise TypeError(f"query model {spec.query.__name__} must be flat")
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            param_schema = _without_null({k: v for k, v in prop.items() if k not in ("title", "description")})
            param = {"name": name, "in": "query", "required": name in required, "schema": param_schema}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _success(spec: Endpoint, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    description = _SUCCESS.get(spec.status, "OK")
    if spec.media_type != "application/json":
        return {"description": description, "content": {spec.media_type: {"schema": {"type": "string"}}}}
    schema = _one_of([refs[(m, "serialization")] for m in spec.responses]) if spec.responses else {"type": "object"}
    response = _json_response(description, schema)
    if spec.status == 201:
        response["headers"]["Location"] = {"description": "Path of the created resource.",
                                           "schema": {"type": "string"}}
    return response


def _operation(spec: Endpoint, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    words = re.sub(r"[{}]", "", spec.doc_path).strip("/").replace("/", "_").replace("-", "_")
    op: dict[str, Any] = {
        "operationId": f"{spec.method.lower()}_{words or 'index'}",
        "summary": spec.summary,
        "tags": [spec.tag],
    }
    if spec.description:
        op["description"] = spec.description
    if not spec.auth:
        op["security"] = []
    parameters = _parameters(spec)
    if parameters:
        op["parameters"] = parameters
    if spec.body:
        media: dict[str, Any] = {"schema": _one_of([refs[(m, "validation")] for m in spec.body])}
        if spec.examples:
            media["examples"] = {name: {"value": value} for name, value in spec.examples.items()}
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
    errors: dict[int, str] = {}
    for status, applies, description in _ERRORS:
        if applies(spec):
            errors[status] = f"{errors[status]} {description}" if status in errors else description
    errors.update(dict(spec.errors))
    error_ref = refs[(ErrorResponse, "serialization")]
    responses = {str(spec.status): _success(spec, refs)}
    responses.update({str(status): _json_response(errors[status], error_ref) for status in sorted(errors)})
    op["responses"] = responses
    return op


def build_document(endpoints: Iterable[Endpoint], *, title: str = "Smart Portfolio Rebalancer API") -> dict[str, Any]:
    """The whole document for ``endpoints`` (JSON-ready; the caller adds nothing but extensions)."""
    endpoints = list(endpoints)
    refs, defs = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for spec in endpoints:
        paths.setdefault(spec.doc_path, {})[spec.method.lower()] = _operation(spec, refs)
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
