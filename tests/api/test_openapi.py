"""The OpenAPI 3.1 document: valid, generated from the models, and true to what the server answers."""

from __future__ import annotations

import re
import time
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings

import engine.schemas
import engine.schemas.ai
import engine.schemas.backtest
import engine.schemas.pipeline
from engine import service
from engine.errors import InvalidRequest
from engine.schemas import RebalanceRequest, SeedRebalanceRequest
from tests.api.conftest import AUTH


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json", headers=AUTH)
    assert response.status_code == 200
    return response.json


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    # schemathesis ships the official OpenAPI 3.1 meta-schema (openapi-spec-validator is not installed).
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    assert document["openapi"] == "3.1.0"
    errors = [f"{e.instance_path}: {e.message}" for e in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert errors == []
    # That meta-schema leaves Schema Objects unchecked: check each against JSON Schema 2020-12 too.
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_route_is_documented_with_its_error_model(app: Flask, document: dict[str, Any]) -> None:
    routes = {(re.sub(r"<([^<>]+)>", r"{\1}", rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == routes
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if "requestBody" in op:
                assert {"400", "413"} <= codes and codes & {"200", "201"}, (path, method)
                assert op["responses"]["400"]["content"]["application/json"]["schema"] == error_ref
            assert ("401" in codes) == (op.get("security") != []), (path, method)
    public = sorted(p for p, ops in document["paths"].items() for op in ops.values() if op.get("security") == [])
    assert public == ["/", "/api/health"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "The token printed at start-up (or $REBALANCER_API_TOKEN)."}


def test_request_schemas_are_the_engine_models(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/rebalance"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"oneOf": [{"$ref": "#/components/schemas/SeedRebalanceRequest"},
                                        {"$ref": "#/components/schemas/RebalanceRequest"}]}
    schemas = document["components"]["schemas"]
    seed = SeedRebalanceRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    assert schemas["SeedRebalanceRequest"] == {k: v for k, v in seed.items() if k != "$defs"}
    assert schemas["Portfolio"]["additionalProperties"] is False
    assert schemas["Holding"]["properties"]["target_weight"] == {
        "maximum": 1.0, "minimum": 0.0, "title": "Target Weight", "type": "number"}
    assert set(RebalanceRequest.model_fields) == set(schemas["RebalanceRequest"]["properties"])


SCHEMA_MODULES = (engine.schemas, engine.schemas.ai, engine.schemas.backtest, engine.schemas.pipeline)


def _body_models(content: dict[str, Any]) -> list[type]:
    refs = content["schema"].get("oneOf", [content["schema"]])
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in refs]
    return [next(getattr(m, name) for m in SCHEMA_MODULES if hasattr(m, name)) for name in names]


def test_every_documented_example_is_a_valid_request(document: dict[str, Any]) -> None:
    """Examples shown in the document and on / pass the engine's own validation (one of the forms)."""
    seen = 0
    for path, ops in document["paths"].items():
        for op in ops.values():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            for name, example in content.get("examples", {}).items():
                errors = []
                for model in _body_models(content):
                    try:
                        service.validate(model, example["value"])
                    except InvalidRequest as exc:
                        errors.append(exc.details)
                assert len(errors) == len(_body_models(content)) - 1, f"{path} example {name!r}: {errors}"
                seen += 1
    assert seen == 11


# --- schemathesis ------------------------------------------------------------------------------
BUDGET_SECONDS = 90.0  # whole run; each (operation, mode) gets an equal share
EXAMPLES = {"positive": 60, "negative": 30}


def _fuzz(operation: Any, mode: Any, max_examples: int, checks: list, deadline: float) -> int:
    """Run generated cases of one operation until ``max_examples`` or ``deadline``; returns calls made."""
    calls = 0

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal calls
        if time.monotonic() > deadline:  # the time share is spent: later examples do nothing
            return
        case.call_and_validate(headers=AUTH, checks=checks)
        calls += 1

    run()
    return calls


@pytest.mark.slow
def test_schemathesis_no_5xx_and_responses_conform(app: Flask) -> None:
    """Generated requests (valid and invalid) for every operation, with the token; bounded in time."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /api/rebalance", "POST /api/risk", "POST /api/stress",
                                                "POST /api/pipeline/runs", "GET /api/pipeline/runs/{run_id}",
                                                "POST /api/backtest", "GET /api/audit"}
    share = BUDGET_SECONDS / (len(operations) * len(EXAMPLES))
    conformance = [not_a_server_error, status_code_conformance, content_type_conformance,
                   response_headers_conformance, response_schema_conformance]
    calls = 0
    for operation in operations:
        calls += _fuzz(operation, GenerationMode.POSITIVE, EXAMPLES["positive"], conformance,
                       time.monotonic() + share)
        # Only operations with a body or parameters have something to negate.
        if operation.method.upper() == "POST" or len(operation.query) or len(operation.path_parameters):
            calls += _fuzz(operation, GenerationMode.NEGATIVE, EXAMPLES["negative"],
                           [*conformance, negative_data_rejection], time.monotonic() + share)
    assert calls >= len(operations)
