"""The engine's exceptions: few, meaningful, and mapped by each face to a user message.

Every error carries ``details``: a list of ``{"loc": [...], "msg": str, "type": str}`` items,
the shape the REST API returns in its 400 body and the GUI shows at the offending cell.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as _PydanticValidationError

__all__ = [
    "Cancelled",
    "DataError",
    "InsufficientData",
    "InvalidRequest",
    "RebalancerError",
    "SolverError",
    "details_from_pydantic",
]


class RebalancerError(Exception):
    """Base class of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, Any]] = details or []

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (to cross a process boundary): the default would call ``cls(*args)`` and
        # lose the details, or rebuild a DataError's message twice.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[RebalancerError], args: tuple[Any, ...], state: dict[str, Any]) -> RebalancerError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class InvalidRequest(RebalancerError):
    """A request (portfolio, policy, settings) failed validation. ``details`` names each field."""

    code = "validation_error"

    @classmethod
    def from_pydantic(cls, exc: _PydanticValidationError, prefix: tuple[Any, ...] = ()) -> InvalidRequest:
        details = details_from_pydantic(exc, prefix)
        n = len(details)
        return cls(f"{n} invalid field{'s' if n != 1 else ''}", details)


class DataError(RebalancerError):
    """A market-data file or series is unusable. Names the file, row and column where known."""

    code = "data_error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        where = [p for p in (file, f"row {row}" if row is not None else None,
                             f"column '{column}'" if column is not None else None) if p]
        full = f"{', '.join(where)}: {message}" if where else message
        if details is None:
            loc = [p for p in (file, row, column) if p is not None]
            details = [{"loc": loc, "msg": message, "type": "data_error"}]
        super().__init__(full, details)
        self.file, self.row, self.column = file, row, column


class InsufficientData(RebalancerError):
    """Not enough history for the asked computation (e.g. no common window)."""

    code = "insufficient_data"


class SolverError(RebalancerError):
    """The optimiser could not produce a solution."""

    code = "solver_error"


class Cancelled(RebalancerError):
    """A long computation was cancelled by its caller."""

    code = "cancelled"


def details_from_pydantic(exc: _PydanticValidationError, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Turn a pydantic error into the stable ``details`` list (deterministic order).

    Pydantic reports errors in field-declaration and list order, which is deterministic for a
    given input; messages from our own validators drop pydantic's "Value error, " prefix.
    """
    out = []
    for err in exc.errors(include_url=False):
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if msg.startswith("Assertion failed, "):
            msg = msg[len("Assertion failed, "):]
        out.append({"loc": [*prefix, *err["loc"]], "msg": msg, "type": str(err["type"])})
    return out
