"""Strict JSON in and out.

Python's ``json`` accepts ``NaN``, ``Infinity`` and turns ``1e999`` into ``inf``; Flask's
default provider inherits that (API-NOTES.md). The provider below refuses all three on the way
in and refuses to emit them on the way out. Request bodies are parsed once, in a
``before_request`` hook, never silently: a malformed body is a 400 ``invalid_json``, not a
misleading "field required" later.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import current_app, g, request
from flask.json.provider import DefaultJSONProvider

from api.errors import ApiError
from api.registry import current_endpoint

JSON_MEDIA_TYPE = "application/json"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range (not finite)")
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider without NaN/Infinity, and with keys in declaration order."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _reject_constant)
        kwargs.setdefault("parse_float", _finite_float)
        return json.loads(s, **kwargs)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)


def _invalid_json(msg: str) -> ApiError:
    return ApiError(400, "invalid_json", "the request body is not valid JSON",
                    [{"loc": [], "msg": msg, "type": "json_invalid"}])


def parse_json_body() -> None:
    """``before_request`` hook: parse the body of routes that take one into ``g.json_body``.

    Raises 400 ``invalid_content_type`` (not ``application/json``), 400 ``invalid_json``
    (empty, undecodable, malformed, NaN/Infinity, too deeply nested) and 413 (too large,
    raised by werkzeug while reading).
    """
    spec = current_endpoint()
    if spec is None or not spec.body:
        return
    if request.mimetype != JSON_MEDIA_TYPE:
        got = request.mimetype or "none"
        msg = f"expected Content-Type {JSON_MEDIA_TYPE}, got {got}"
        raise ApiError(400, "invalid_content_type", msg,
                       [{"loc": ["headers", "Content-Type"], "msg": msg, "type": "content_type"}])
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise _invalid_json("the request body is empty")
    try:
        g.json_body = current_app.json.loads(raw)
    except RecursionError:
        raise _invalid_json("the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, our NaN/Infinity refusals
        raise _invalid_json(str(exc)) from None


def json_body() -> Any:
    """The body parsed by :func:`parse_json_body` (any JSON value: the engine validates its shape)."""
    return g.json_body
