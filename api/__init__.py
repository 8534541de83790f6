"""The local REST API: a thin HTTP face over :mod:`engine.service`.

``create_app(config)`` builds the Flask app; :mod:`api.server` serves it on a real WSGI server
(waitress) from the CLI (``rebalancer-api``) or from the desktop app.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Flask

import engine
from api.auth import require_token, resolve_token
from api.envelope import add_request_id_header, assign_request_id
from api.errors import register_error_handlers
from api.jsonio import StrictJSONProvider, parse_json_body
from api.registry import ENDPOINTS_KEY
from api.routes import BLUEPRINTS
from api.routes.health import STARTED_KEY

__all__ = ["DEFAULT_MAX_CONTENT_LENGTH", "create_app", "default_model_version"]

DEFAULT_MAX_CONTENT_LENGTH = 2 * 1024 * 1024


def default_model_version() -> str:
    """The version of the models behind the numbers.

    ``engine.service.model_version()`` when the engine provides one (the model registry's
    champion); otherwise the rule-based models ship with, and are versioned as, the engine.
    """
    from engine import service

    provider = getattr(service, "model_version", None)
    return str(provider()) if callable(provider) else f"engine-{engine.__version__}"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app.

    Parameters
    ----------
    config
        Overrides of the Flask config. Keys of our own: ``API_TOKEN`` (default: the
        ``$REBALANCER_API_TOKEN`` environment variable, else a fresh random token; read it back
        from ``app.config["API_TOKEN"]``), ``MAX_CONTENT_LENGTH`` (bytes, default 2 MB) and
        ``MODEL_VERSION`` (default :func:`default_model_version`).
    """
    app = Flask(__name__, static_folder=None)
    app.json = StrictJSONProvider(app)
    app.config.update(MAX_CONTENT_LENGTH=DEFAULT_MAX_CONTENT_LENGTH, API_TOKEN=None, MODEL_VERSION=None)
    app.config.update(dict(config or {}))
    app.config["API_TOKEN"] = resolve_token(app.config["API_TOKEN"])
    app.config["MODEL_VERSION"] = app.config["MODEL_VERSION"] or default_model_version()
    app.extensions[STARTED_KEY] = time.monotonic()

    endpoints = {}
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
        endpoints.update(blueprint.endpoints)
    app.extensions[ENDPOINTS_KEY] = endpoints

    # Order matters: an id first (every answer names it), then the token, then the body.
    app.before_request(assign_request_id)
    app.before_request(require_token)
    app.before_request(parse_json_body)
    app.after_request(add_request_id_header)
    register_error_handlers(app)
    return app
