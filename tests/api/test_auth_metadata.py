"""Token, metadata and request ids on every answer; no CORS."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient

import engine
from api import create_app
from api.auth import TOKEN_ENV, resolve_token
from tests.api.conftest import AUTH, TOKEN

PROTECTED = [
    ("GET", "/api/openapi.json"),
    ("GET", "/api/scenarios"),
    ("GET", "/api/market-data/symbols"),
    ("GET", "/api/sample-portfolios"),
    ("GET", "/api/multi-agent-blueprint"),
    ("POST", "/api/rebalance"),
    ("POST", "/api/risk"),
    ("POST", "/api/stress"),
    ("POST", "/api/forecast"),
    ("POST", "/api/optimize"),
    ("POST", "/api/backtest"),
    ("POST", "/api/pipeline/runs"),
    ("GET", "/api/pipeline/runs"),
    ("GET", "/api/pipeline/runs/20261124T111615-c495d81284"),
    ("POST", "/api/pipeline/runs/20261124T111615-c495d81284/approve"),
    ("POST", "/api/pipeline/runs/20261124T111615-c495d81284/reject"),
    ("GET", "/api/models"),
    ("GET", "/api/audit"),
    ("GET", "/api/audit/verify"),
    ("GET", "/api/audit/export"),
    ("GET", "/api/no-such-route"),  # an unknown route does not reveal itself without the token
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
                                           "Bearer", "Bearer tökén"])
def test_protected_routes_need_the_token(client: FlaskClient, method: str, path: str,
                                         authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.open(path, method=method, headers=headers, json={"returns": [0.01]})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="rebalancer-api"'
    error = response.json["error"]
    assert error["code"] == "unauthorized"
    assert error["message"] == ("missing bearer token" if authorization is None else "a valid bearer token is required")
    assert error["details"] == [{"loc": ["headers", "Authorization"], "msg": error["message"], "type": "unauthorized"}]


@pytest.mark.parametrize("path", ["/", "/api/health"])
def test_index_and_health_are_open(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_right_token_opens_protected_routes(client: FlaskClient) -> None:
    response = client.get("/api/multi-agent-blueprint", headers=AUTH)
    assert response.status_code == 200
    assert client.get("/api/openapi.json", headers={"Authorization": f"bearer  {TOKEN}"}).status_code == 200


def test_token_defaults_to_environment_then_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert create_app().config["API_TOKEN"] == "from-env"
    assert create_app({"API_TOKEN": "given"}).config["API_TOKEN"] == "given"
    monkeypatch.delenv(TOKEN_ENV)
    first, second = resolve_token(), resolve_token()
    assert first != second and len(first) >= 40  # token_urlsafe(32): 43 characters
    with pytest.raises(ValueError, match="whitespace"):
        resolve_token(" padded ")


def test_health_body_and_metadata(client: FlaskClient) -> None:
    response = client.get("/api/health")
    body = response.json
    assert body["status"] == "ok" and body["version"] == engine.__version__
    assert body["uptime_seconds"] >= 0
    meta = body["metadata"]
    assert set(meta) == {"timestamp", "engine_version", "model_version", "request_id"}
    stamp = dt.datetime.fromisoformat(meta["timestamp"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert meta["engine_version"] == engine.__version__
    assert meta["model_version"]
    assert re.fullmatch(r"[0-9a-f]{32}", meta["request_id"])
    assert response.headers["X-Request-ID"] == meta["request_id"]


def test_request_ids_are_fresh_or_echo_a_well_formed_client_id(client: FlaskClient) -> None:
    ids = {client.get("/api/health").json["metadata"]["request_id"] for _ in range(3)}
    assert len(ids) == 3
    echoed = client.get("/api/health", headers={"X-Request-ID": "abc-123.x"})
    assert echoed.headers["X-Request-ID"] == echoed.json["metadata"]["request_id"] == "abc-123.x"
    hostile = client.get("/api/health", headers={"X-Request-ID": "a b\"<script>"})
    assert hostile.headers["X-Request-ID"] != "a b\"<script>"


def test_every_kind_of_answer_has_a_request_id_and_no_cors(client: FlaskClient) -> None:
    answers = [client.get("/"), client.get("/api/health"), client.get("/api/scenarios"),
               client.get("/nope", headers=AUTH), client.get("/api/openapi.json", headers=AUTH)]
    for response in answers:
        assert response.headers["X-Request-ID"]
        assert not [k for k, _ in response.headers.items() if k.lower().startswith("access-control-")]
    assert answers[-1].json["x-metadata"]["request_id"] == answers[-1].headers["X-Request-ID"]


def test_model_version_is_configurable() -> None:
    app = create_app({"API_TOKEN": TOKEN, "MODEL_VERSION": "forecast-ensemble@3"})
    assert app.test_client().get("/api/health").json["metadata"]["model_version"] == "forecast-ensemble@3"


def test_index_page_lists_every_endpoint_with_an_example(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert '<a href="/api/openapi.json">' in text
    for path in ("/api/health", "/api/rebalance", "/api/risk", "/api/stress", "/api/scenarios",
                 "/api/market-data/symbols", "/api/multi-agent-blueprint", "/api/openapi.json", "/api/forecast",
                 "/api/optimize", "/api/backtest", "/api/pipeline/runs", "/api/pipeline/runs/{run_id}",
                 "/api/pipeline/runs/{run_id}/approve", "/api/pipeline/runs/{run_id}/reject", "/api/models",
                 "/api/audit", "/api/audit/verify", "/api/audit/export"):
        assert f"{path}</code>" in text
    assert "&#34;portfolio_value&#34;: 100000" in text  # the seed example, HTML-escaped
    assert page.headers["X-Request-ID"] in text
