"""Request ids, the ``metadata`` block and the one function every view answers through."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, g, request
from pydantic import BaseModel

import engine
from api.models import Metadata

REQUEST_ID_HEADER = "X-Request-ID"
# A caller-supplied id is echoed only if it is short and harmless in a log line or header.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id() -> str:
    """This request's id: the caller's ``X-Request-ID`` when well-formed, else a fresh uuid4."""
    if "request_id" not in g:
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
    return g.request_id


def assign_request_id() -> None:
    """``before_request`` hook (returns ``None``, which Flask requires of a hook that lets the request through)."""
    request_id()


def metadata() -> dict[str, Any]:
    """The ``metadata`` block as JSON-ready data."""
    return Metadata(
        timestamp=dt.datetime.now(dt.UTC),
        engine_version=engine.__version__,
        model_version=current_app.config["MODEL_VERSION"],
        request_id=request_id(),
    ).model_dump(mode="json")


def respond(payload: BaseModel | Mapping[str, Any], status: int = 200,
            headers: Mapping[str, str] | None = None) -> Response:
    """Serialise ``payload`` (a result model or a mapping) with ``metadata`` added.

    The app's JSON provider refuses NaN and infinity on the way out too, so a non-finite
    number can never reach a client as invalid JSON.
    """
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
    body["metadata"] = metadata()
    return current_app.response_class(
        current_app.json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


def add_request_id_header(response: Response) -> Response:
    """``after_request`` hook: every answer, HTML and errors included, names its request id."""
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response
