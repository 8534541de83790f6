"""Bearer-token check for every route except the public ones (``/`` and ``/api/health``)."""

from __future__ import annotations

import hmac
import os
import secrets

from flask import current_app, request

from api.errors import ApiError
from api.registry import current_endpoint

TOKEN_ENV = "REBALANCER_API_TOKEN"


def resolve_token(token: str | None = None) -> str:
    """The token to require: the one given, else ``$REBALANCER_API_TOKEN``, else a fresh random one."""
    token = token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(32)
    if not token.strip() or token != token.strip():
        raise ValueError("the API token must be non-empty and carry no surrounding whitespace")
    return token


def require_token() -> None:
    """``before_request`` hook. Undeclared routes (and 404s) need the token too: nothing leaks."""
    spec = current_endpoint()
    if spec is not None and not spec.auth:
        return
    expected = current_app.config["API_TOKEN"].encode()
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    # compare_digest on bytes: constant time, and no TypeError on non-ASCII input.
    if scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), expected):
        return
    message = "a valid bearer token is required" if scheme else "missing bearer token"
    raise ApiError(401, "unauthorized", message,
                   [{"loc": ["headers", "Authorization"], "msg": message, "type": "unauthorized"}],
                   headers={"WWW-Authenticate": 'Bearer realm="rebalancer-api"'})
