"""Every error as JSON: ``{"error": {"code", "message", "details"}, "metadata"}``.

Status codes:
- 400: the request cannot be understood or fails validation (bad JSON, wrong content type,
  :class:`engine.errors.InvalidRequest`).
- 401: missing or wrong bearer token. 404, 405, 413: as HTTP means them; an engine error with
  code ``not_found`` (no pipeline run with that id) is a 404 too.
- 409: the engine refused a state change the resource is not in a state for (code
  ``approval_refused``: approving a blocked run, deciding a run twice).
- 422: the request is valid but the data cannot support it: :class:`~engine.errors.DataError`,
  :class:`~engine.errors.InsufficientData`, :class:`~engine.errors.SolverError` (any other engine
  error but ``InvalidRequest``). The client can act on it (other symbols, more history).
- 500: anything unexpected; logged with the request id, which the body repeats. Never a trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException

from api.envelope import request_id, respond
from engine.errors import InvalidRequest, RebalancerError

# HTTP errors keep werkzeug's status, with a stable machine-readable code.
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
# Engine error codes with a status of their own; every other engine error is a 422. Mapped by
# code, so the app does not import the pipeline's modules to recognise their exceptions.
ENGINE_STATUS = {
    "not_found": 404,
    "approval_refused": 409,
}


class ApiError(Exception):
    """An error the HTTP layer itself detects (JSON syntax, content type, token)."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = dict(headers or {})


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    return respond({"error": {"code": code, "message": message, "details": details or []}}, status, headers)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _invalid_request(exc: InvalidRequest) -> Response:
    return error_response(400, exc.code, exc.message, exc.details)


def _engine_error(exc: RebalancerError) -> Response:
    return error_response(ENGINE_STATUS.get(exc.code, 422), exc.code, exc.message, exc.details)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        return _unexpected(exc)
    code = _HTTP_CODES.get(status, (exc.name or "error").lower().replace(" ", "_"))
    message = exc.description or exc.name or "error"
    if status == 413:
        message = f"the request body exceeds the limit of {current_app.config['MAX_CONTENT_LENGTH']:,} bytes"
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return error_response(status, code, message, headers=headers)


def _unexpected(exc: BaseException) -> Response:
    rid = request_id()
    current_app.logger.exception("unexpected error handling request %s", rid, exc_info=exc)
    return error_response(500, "internal_error", f"unexpected server error; quote request id {rid} when reporting it")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; the most specific class wins (Flask walks the exception's MRO)."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(InvalidRequest, _invalid_request)
    app.register_error_handler(RebalancerError, _engine_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
