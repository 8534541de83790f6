"""Undo commands: every edit of the document is one of these, acting on the domain objects.

Commands receive values the engine has already accepted (see ``HoldingsModel.propose``), so
``redo``/``undo`` only swap them in and out; they never validate or compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtGui import QUndoCommand

from engine.schemas import Holding, Portfolio

__all__ = [
    "EditHoldingCommand",
    "InsertHoldingsCommand",
    "RemoveHoldingsCommand",
    "ReplacePortfolioCommand",
    "SetSettingsCommand",
]


class EditHoldingCommand(QUndoCommand):
    """Replace the holding on ``row``."""

    def __init__(self, model: Any, row: int, holding: Holding, text: str) -> None:
        super().__init__(text)
        self._model, self._row = model, row
        self._old, self._new = model.holding(row), holding

    def redo(self) -> None:
        self._model.apply_holding(self._row, self._new)

    def undo(self) -> None:
        self._model.apply_holding(self._row, self._old)


class InsertHoldingsCommand(QUndoCommand):
    """Insert ``holdings`` before ``row`` (``row == rowCount`` appends)."""

    def __init__(self, model: Any, row: int, holdings: Sequence[Holding], text: str = "Add holding") -> None:
        super().__init__(text)
        self._model, self._row, self._holdings = model, row, list(holdings)

    def redo(self) -> None:
        self._model.apply_insert(self._row, self._holdings)

    def undo(self) -> None:
        self._model.apply_remove(self._row, len(self._holdings))


class RemoveHoldingsCommand(QUndoCommand):
    """Remove the given rows (any order; removed as contiguous runs from the bottom up)."""

    def __init__(self, model: Any, rows: Sequence[int], text: str = "Remove holdings") -> None:
        super().__init__(text)
        self._model = model
        runs: list[list[int]] = []
        for r in sorted(set(rows)):
            if runs and r == runs[-1][-1] + 1:
                runs[-1].append(r)
            else:
                runs.append([r])
        # (start, holdings) per run, kept for undo.
        self._runs = [(run[0], [model.holding(r) for r in run]) for run in runs]

    def redo(self) -> None:
        for start, holdings in reversed(self._runs):
            self._model.apply_remove(start, len(holdings))

    def undo(self) -> None:
        for start, holdings in self._runs:
            self._model.apply_insert(start, holdings)


class ReplacePortfolioCommand(QUndoCommand):
    """Swap the whole portfolio (import, paste of a block, normalise targets)."""

    def __init__(self, model: Any, portfolio: Portfolio, text: str) -> None:
        super().__init__(text)
        self._model, self._old, self._new = model, model.portfolio(), portfolio

    def redo(self) -> None:
        self._model.apply_portfolio(self._new)

    def undo(self) -> None:
        self._model.apply_portfolio(self._old)


class SetSettingsCommand(QUndoCommand):
    """Replace one settings section (``policy``, ``risk`` or ``monte_carlo``) of the document.

    Consecutive changes of the same field merge into one undo step, so dragging a spin box
    does not fill the stack.
    """

    def __init__(self, settings: Any, section: str, value: Any, text: str, merge_key: str = "") -> None:
        super().__init__(text)
        self._settings, self._section = settings, section
        self._old, self._new = getattr(settings, section), value
        self._merge_key = f"{section}:{merge_key}" if merge_key else ""

    def id(self) -> int:
        return 4201 if self._merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetSettingsCommand) or other._merge_key != self._merge_key:
            return False
        self._new = other._new
        return True

    def redo(self) -> None:
        self._settings.apply(self._section, self._new)

    def undo(self) -> None:
        self._settings.apply(self._section, self._old)
