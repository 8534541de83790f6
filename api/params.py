"""Query strings: the models of the list routes' parameters, and the one function that parses them.

A query string is text, so these models are lax (``"20"`` is the integer 20) where the engine's
request models are strict; the values they accept are the engine's own (run statuses, audit
entry kinds). The page bounds are the HTTP layer's, like the request size limit: they cap what
one answer can carry. Unknown parameters are refused, as unknown body fields are.
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.registry import current_endpoint
from engine.audit import KINDS
from engine.errors import InvalidRequest
from engine.schemas.pipeline import RunStatus

#: Most rows one list answer carries.
MAX_PAGE = 10_000
#: Highest offset accepted (SQLite takes 64-bit offsets; nothing real comes near this).
MAX_OFFSET = 2**31 - 1

AuditKind = Literal[KINDS]  # type: ignore[valid-type]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="Rows to skip (paging).")]


class QueryModel(BaseModel):
    """Base of the query models: closed, finite, lax about numbers written as text."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class RunListQuery(QueryModel):
    """``GET /api/pipeline/runs``: newest first."""

    status: RunStatus | None = Field(default=None, description="Only runs with this status.")
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = Field(default=100, description="Most runs to list.")
    offset: Offset = 0


class AuditQuery(QueryModel):
    """``GET /api/audit``: entries in sequence order."""

    kind: AuditKind | None = Field(default=None, description="Only entries of this kind.")
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = Field(default=500, description="Most entries to list.")
    offset: Offset = 0


class ModelQuery(QueryModel):
    """``GET /api/models``."""

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="Only versions of the model with this name (e.g. ensemble).")


def query_params() -> BaseModel:
    """This request's query string, validated against its route's declared ``query`` model.

    Raises :class:`InvalidRequest` (a 400 ``validation_error``) with each offending parameter
    at ``["query", name]``. A repeated parameter counts once, with its first value.
    """
    spec = current_endpoint()
    if spec is None or spec.query is None:
        raise LookupError(f"route {request.path} declares no query model")
    try:
        return spec.query.model_validate(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise InvalidRequest.from_pydantic(exc, ("query",)) from None
