"""The portfolio document an advisor saves: holdings, policy and settings in one versioned JSON file.

A document may hold a portfolio *being edited*: every holding valid and every portfolio rule
met except that target weights sum to 1 (the desktop shows that sum as an indicator while the
user edits, not as a refusal). :func:`draft_portfolio` applies exactly the engine's rules minus
that one; :func:`target_sum_problem` reports it with the engine's own message.

Saving is atomic: the JSON is written to a temporary file in the same folder, flushed to disk
and moved over the target with :func:`os.replace`, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import DataError, InvalidRequest
from engine.schemas import Holding, MonteCarloSettings, Portfolio, RebalancePolicy, RiskSettings
from engine.service import validate

FORMAT = "smart-portfolio-rebalancer/portfolio"
VERSION = 1
SUFFIX = ".rebal.json"

__all__ = [
    "FORMAT",
    "SUFFIX",
    "VERSION",
    "Document",
    "document_from_dict",
    "document_to_dict",
    "draft_portfolio",
    "load_document",
    "normalise_targets",
    "save_document",
    "target_sum_problem",
]


@dataclass
class Document:
    """Everything a saved file holds. ``portfolio`` may be a draft (see :func:`draft_portfolio`)."""

    portfolio: Portfolio
    policy: RebalancePolicy = field(default_factory=RebalancePolicy)
    risk: RiskSettings = field(default_factory=RiskSettings)
    monte_carlo: MonteCarloSettings = field(default_factory=MonteCarloSettings)


# --- drafts -----------------------------------------------------------------------------------
def _prefixed(exc: InvalidRequest, prefix: Sequence[Any]) -> InvalidRequest:
    details = [{**d, "loc": [*prefix, *d["loc"]]} for d in exc.details]
    return InvalidRequest(exc.message, details)


def draft_portfolio(data: Portfolio | Mapping[str, Any]) -> Portfolio:
    """Validate a portfolio being edited: every engine rule except "targets sum to 1".

    Parameters
    ----------
    data
        A :class:`Portfolio` (possibly a draft itself) or its dict form.

    Returns
    -------
    Portfolio
        A portfolio object whose holdings are validated :class:`Holding` objects; its target
        weights may not sum to 1, so pass ``portfolio.model_dump()`` through
        :func:`engine.service.validate` before computing with it.

    Raises
    ------
    InvalidRequest
        With ``details`` located like the full model's (``["holdings", 3, "price"]`` …).
    """
    raw = data.model_dump() if isinstance(data, Portfolio) else dict(data)
    rows = raw.get("holdings")
    if not isinstance(rows, list):
        return validate(Portfolio, raw)  # the engine names what is wrong with "holdings"
    holdings: list[Holding] = []
    for i, row in enumerate(rows):
        try:
            holdings.append(validate(Holding, row))
        except InvalidRequest as exc:
            raise _prefixed(exc, ["holdings", i]) from None
    # Every other rule (header fields, count, unique symbols…) is checked by the engine itself on
    # a copy whose targets are made to sum to 1; the real targets are then put back.
    # The copies are validated Holding instances, which pydantic does not validate again: one
    # short call instead of re-checking thousands of dicts while holding the GIL (the GUI
    # thread loads documents on a worker and must not starve).
    n = len(holdings)
    even = [h.model_copy(update={"target_weight": 1.0 / n}) for h in holdings]
    checked = validate(Portfolio, {**raw, "holdings": even})
    return checked.model_copy(update={"holdings": holdings})


def checked_portfolio(draft: Portfolio) -> Portfolio:
    """A draft validated by every engine rule, "targets sum to 1" included, as a portfolio to
    compute with.

    Its holdings are already validated :class:`Holding` instances, which pydantic keeps as they
    are: only the portfolio-level rules run. Validating the dict form instead re-checks every
    holding in one long call that holds the GIL (≈ 80 ms for 5,000 holdings), during which the
    GUI thread cannot paint.

    Raises
    ------
    InvalidRequest
        Located under ``portfolio`` (``["portfolio", "holdings"]`` for the targets' sum).
    """
    try:
        return validate(Portfolio, {**draft.model_dump(exclude={"holdings"}), "holdings": list(draft.holdings)})
    except InvalidRequest as exc:
        raise _prefixed(exc, ["portfolio"]) from None


def target_sum_problem(portfolio: Portfolio) -> str | None:
    """The engine's message when the targets do not sum to 1, else ``None``."""
    try:
        Portfolio._targets_sum_to_one(list(portfolio.holdings))
    except ValueError as exc:
        return str(exc)
    return None


def normalise_targets(portfolio: Portfolio) -> Portfolio:
    """Scale the target weights so they sum to 1 (proportions kept).

    Raises
    ------
    InvalidRequest
        When every target is zero: there are no proportions to keep.
    """
    total = sum(h.target_weight for h in portfolio.holdings)
    if total <= 0.0:
        raise InvalidRequest("every target weight is zero; set at least one before normalising",
                             [{"loc": ["holdings"], "msg": "every target weight is zero", "type": "value_error"}])
    holdings = [h.model_copy(update={"target_weight": h.target_weight / total}) for h in portfolio.holdings]
    return portfolio.model_copy(update={"holdings": holdings})


# --- dict form --------------------------------------------------------------------------------
def document_to_dict(doc: Document) -> dict[str, Any]:
    """The JSON-ready form, with ``format`` and ``version`` first."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "portfolio": doc.portfolio.model_dump(mode="json"),
        "policy": doc.policy.model_dump(mode="json"),
        "risk": doc.risk.model_dump(mode="json"),
        "monte_carlo": doc.monte_carlo.model_dump(mode="json"),
    }


def _section(model: type, data: Mapping[str, Any], key: str) -> Any:
    try:
        return validate(model, data.get(key, {}))
    except InvalidRequest as exc:
        raise _prefixed(exc, [key]) from None


def document_from_dict(data: Any) -> Document:
    """Validate a document's dict form; missing settings sections take their defaults.

    Raises
    ------
    DataError
        Not a document of this format, or a version this code cannot read.
    InvalidRequest
        A section fails the engine's validation (``loc`` starts with the section name).
    """
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise DataError(f"not a portfolio document (expected \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise DataError(f"unsupported document version {version!r}; this version reads 1 to {VERSION}")
    unknown = sorted(set(data) - {"format", "version", "portfolio", "policy", "risk", "monte_carlo"})
    if unknown:
        raise InvalidRequest(f"unknown document field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                             [{"loc": [k], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
                              for k in unknown])
    if not isinstance(data.get("portfolio"), Mapping):
        raise InvalidRequest("the document has no portfolio",
                             [{"loc": ["portfolio"], "msg": "Field required", "type": "missing"}])
    try:
        portfolio = draft_portfolio(data["portfolio"])
    except InvalidRequest as exc:
        raise _prefixed(exc, ["portfolio"]) from None
    return Document(
        portfolio=portfolio,
        policy=_section(RebalancePolicy, data, "policy"),
        risk=_section(RiskSettings, data, "risk"),
        monte_carlo=_section(MonteCarloSettings, data, "monte_carlo"),
    )


# --- files ------------------------------------------------------------------------------------
def load_document(path: str | os.PathLike[str]) -> Document:
    """Read and validate a document file.

    Raises
    ------
    DataError
        Unreadable file, invalid JSON (with its line and column) or a foreign format.
    InvalidRequest
        Valid JSON whose content fails the engine's validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the file: {exc}", file=path.name) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path.name) from None
    try:
        return document_from_dict(data)
    except DataError as exc:
        raise DataError(exc.message, file=path.name) from None


def save_document(doc: Document, path: str | os.PathLike[str]) -> Path:
    """Write ``doc`` atomically (temporary file in the same folder, fsync, :func:`os.replace`)."""
    path = Path(path)
    text = json.dumps(document_to_dict(doc), indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
