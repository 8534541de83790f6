"""Shared pydantic configuration: strict, closed, finite."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every request model.

    Unknown fields, NaN/Infinity and type coercion ("5" for 5) are all rejected, so a bad
    request fails loudly with a field path instead of being half-understood.
    """

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        strict=True,
        str_strip_whitespace=True,
        validate_default=False,
        frozen=False,
    )


class ResultModel(BaseModel):
    """Base of every result model: plain data, serialisable to JSON as is.

    Metrics that cannot be computed are ``None`` (JSON ``null``), never NaN.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
