""""Use these targets": when the optimised targets may replace the strategic ones, and the one
undoable command that does it.

The command is the document's :class:`~desktop.commands.ReplacePortfolioCommand` with a
portfolio that differs from the current one only in its target weights: one step on the undo
stack sets every holding's target, and Ctrl+Z restores them all. The new portfolio is built
through the holdings model's :meth:`propose` (the engine's validation), never by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand

from engine.schemas import Portfolio
from engine.schemas.ai import PortfolioTargets

__all__ = ["SAME", "USE_TARGETS_TEXT", "apply_state", "targets_portfolio", "use_targets_command"]

#: Two weights closer than this are "the same target" (a millionth of the portfolio).
SAME = 1e-6
#: The undo stack's name for the action (Edit > Undo "Use AI targets").
USE_TARGETS_TEXT = "Use AI targets"


def _book(portfolio: Portfolio) -> Any:
    """Everything of a portfolio but its targets: what the optimisation depended on besides them."""
    return (portfolio.model_dump(exclude={"holdings"}),
            [h.model_dump(exclude={"target_weight"}) for h in portfolio.holdings])


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= SAME for k in a)


def apply_state(result: PortfolioTargets | None, basis: Portfolio | None, current: Portfolio) -> tuple[bool, str]:
    """Whether "Use these targets" may run on ``current``, and the sentence saying why (not).

    ``basis`` is the portfolio the result was computed for. The targets may be applied only
    when the optimiser tilted (not a fallback), the holdings are those it saw (quantities,
    prices and cash feed the turnover it respected), and the targets are still the strategic
    ones it tilted from.
    """
    if result is None or basis is None:
        return False, "Press Forecast & optimise to get optimised targets."
    if result.targets.status == "fallback":
        return False, "The optimiser fell back to the strategic targets: there is nothing to apply."
    if _book(current) != _book(basis):
        return False, "The holdings changed since this forecast: press Forecast & optimise again."
    targets = {h.symbol: h.target_weight for h in current.holdings}
    optimised = result.targets.weights
    if _same(targets, optimised):
        if _same(optimised, result.strategic):
            return False, "The optimised targets equal the strategic targets: nothing would change."
        return False, "These targets are in use. Undo (Ctrl+Z) restores the strategic targets."
    if not _same(targets, result.strategic):
        return False, "The targets were edited since this forecast: press Forecast & optimise again."
    return True, f"Sets all {len(targets)} target weights in one step; Undo (Ctrl+Z) restores them."


def targets_portfolio(model: Any, weights: Mapping[str, float]) -> Portfolio:
    """The model's portfolio with every holding's target set from ``weights``, engine-validated.

    Raises
    ------
    KeyError
        A holding has no optimised weight.
    InvalidRequest
        The engine refuses the new targets.
    """
    rows = [h.model_dump() | {"target_weight": float(weights[h.symbol])} for h in model.portfolio().holdings]
    return model.propose(rows)


def use_targets_command(model: Any, weights: Mapping[str, float]) -> QUndoCommand:
    """One undo command setting every holding's target weight of ``model`` from ``weights``.

    Push it with ``model.push(command)``. Raises as :func:`targets_portfolio`.
    """
    from desktop.commands import ReplacePortfolioCommand

    return ReplacePortfolioCommand(model, targets_portfolio(model, weights), USE_TARGETS_TEXT)
