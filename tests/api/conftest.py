"""Fixtures for the API tests: an app from the factory, a client, and the token's header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app

TOKEN = "test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run records, the audit trail and the model registry of every API test live in tmp."""
    path = tmp_path / "data"
    monkeypatch.setenv("REBALANCER_DATA_DIR", str(path))
    return path


@pytest.fixture
def app() -> Flask:
    return create_app({"API_TOKEN": TOKEN, "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post_json(client: FlaskClient, path: str, payload: Any) -> Any:
    """POST ``payload`` as JSON with the token."""
    return client.post(path, json=payload, headers=AUTH)


def without_metadata(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "metadata"}
