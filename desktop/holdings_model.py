"""A ``QAbstractTableModel`` adapter over the engine's :class:`Portfolio`.

The model holds a portfolio (possibly a draft whose targets do not sum to 1, see
:func:`engine.document.draft_portfolio`) and never changes it itself: an edit builds the new
portfolio through the engine's validation and, if accepted, is pushed as a ``QUndoCommand``
(:mod:`desktop.commands`) that calls the ``apply_*`` methods below. A refused edit leaves the
model unchanged and records the engine's message at the cell (tooltip, tinted background).

Weight and drift come from the engine's latest rebalance (its trade lines) for the symbols it
covers; until it arrives, weight is value / total value and drift weight - target, uncoloured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QModelRoleDataSpan, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QUndoStack

from engine.document import draft_portfolio, target_sum_problem
from engine.errors import InvalidRequest
from engine.schemas import Holding, Portfolio

__all__ = ["COLUMNS", "EDITABLE", "HoldingsModel"]

#: (key, header) per column, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "Symbol"), ("name", "Name"), ("asset_class", "Asset class"), ("quantity", "Quantity"),
    ("price", "Price"), ("value", "Value"), ("weight", "Weight"), ("target_weight", "Target"), ("drift", "Drift"),
)
KEYS = tuple(k for k, _ in COLUMNS)
EDITABLE = frozenset({"symbol", "name", "asset_class", "quantity", "price", "target_weight"})
NUMERIC = frozenset({"quantity", "price", "value", "weight", "target_weight", "drift"})
PERCENT = frozenset({"weight", "target_weight"})

# Roles as plain ints: data() is called from C++ with an int, and comparing it with an enum
# member costs a Python-level __eq__ per comparison, thousands of times per paint.
_DISPLAY, _EDIT, _USER, _TOOLTIP, _BACKGROUND, _ALIGNMENT = (int(r) for r in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole, Qt.ItemDataRole.UserRole, Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.TextAlignmentRole))
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_NO_INDEX = QModelIndex()
_READ_ONLY_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_EDITABLE_FLAGS = _READ_ONLY_FLAGS | Qt.ItemFlag.ItemIsEditable

_REFUSED = QColor(255, 214, 214)
_IN_BAND = QColor(214, 240, 218)
_OUT_OF_BAND = QColor(255, 222, 173)
_Index = QModelIndex | QPersistentModelIndex


def _fmt_number(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text and decimals > 2 else text


class HoldingsModel(QAbstractTableModel):
    """Rows = holdings. Signals: ``portfolioChanged()`` after every applied change,
    ``editRefused(row, column, message)`` when the engine refuses an edit."""

    portfolioChanged = Signal()
    editRefused = Signal(int, int, str)

    def __init__(self, portfolio: Portfolio, undo_stack: QUndoStack | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._portfolio = portfolio
        self._total: tuple[Any, float] = (None, 0.0)
        self._undo = undo_stack
        self._lines: dict[str, Any] = {}
        self._catalogue: dict[str, Any] = {}
        self._errors: dict[tuple[int, int], str] = {}

    # --- domain access ------------------------------------------------------------------------
    def portfolio(self) -> Portfolio:
        return self._portfolio

    def holding(self, row: int) -> Holding:
        return self._portfolio.holdings[row]

    def undo_stack(self) -> QUndoStack | None:
        return self._undo

    def set_catalogue(self, catalogue: Mapping[str, Any]) -> None:
        """Bundled series by symbol (``SeriesInfo``): a symbol typed in fills name, class, price."""
        self._catalogue = {k.upper(): v for k, v in catalogue.items()}

    def catalogue(self) -> dict[str, Any]:
        return self._catalogue

    def set_analysis(self, result: Any | None) -> None:
        """Show the engine's weights, drift and band status from a ``RebalanceResult``."""
        self._lines = {t.symbol: t for t in result.trades} if result is not None else {}
        if self.rowCount():
            self.dataChanged.emit(self.index(0, KEYS.index("weight")), self.index(self.rowCount() - 1, len(KEYS) - 1))

    def target_sum(self) -> float:
        return float(sum(h.target_weight for h in self._portfolio.holdings))

    def target_problem(self) -> str | None:
        return target_sum_problem(self._portfolio)

    def cell_error(self, row: int, column: int) -> str | None:
        return self._errors.get((row, column))

    # --- proposing edits ----------------------------------------------------------------------
    def propose(self, holdings: Sequence[Holding | Mapping[str, Any]], **header: Any) -> Portfolio:
        """The portfolio with these holdings (and header fields), validated by the engine.

        Raises
        ------
        InvalidRequest
            The engine's refusal (every rule but "targets sum to 1").
        """
        data = self._portfolio.model_dump(exclude={"holdings"})
        data.update(header)
        data["holdings"] = [h.model_dump() if isinstance(h, Holding) else dict(h) for h in holdings]
        return draft_portfolio(data)

    def updated_row(self, base: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
        """``base`` (a holding's dict form) with one field set as a user would type it: numbers
        as text, targets in percent, and a bundled symbol filling name, class and price."""
        new = dict(base)
        if key == "symbol" and isinstance(value, str):
            value = value.strip().upper()
            info = self._catalogue.get(value)
            if info is not None and value != str(base.get("symbol", "")).upper():
                new.update(name=info.name[:200], exposure=info.exposure, trade_unit=None, proxy=None)
                if info.asset_class:
                    new["asset_class"] = info.asset_class
                if info.last_price:
                    new["price"] = float(info.last_price)
        elif key in NUMERIC and isinstance(value, str):
            # Text that is not a number is passed on: the engine words the refusal.
            with contextlib.suppress(ValueError):
                value = float(value.replace(",", "").replace("%", "").strip())
        if key == "target_weight" and isinstance(value, int | float):
            value = float(value) / 100.0  # edited as a percentage, stored as a fraction
        new[key] = value
        return new

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        row, col = index.row(), index.column()
        key = KEYS[col]
        if key not in EDITABLE:
            return False
        rows: list[Any] = list(self._portfolio.holdings)
        rows[row] = self.updated_row(self.holding(row).model_dump(), key, value)
        try:
            new = self.propose(rows)
        except InvalidRequest as exc:
            self._refuse(row, col, key, exc)
            return False
        self._errors.pop((row, col), None)
        if new.holdings[row] == self.holding(row):
            self.dataChanged.emit(index, index)  # clears a refusal tint
            return True
        from desktop.commands import EditHoldingCommand

        self.push(EditHoldingCommand(self, row, new.holdings[row], f"Edit {COLUMNS[col][1].lower()} of {self.holding(row).symbol}"))
        return True

    def _refuse(self, row: int, col: int, key: str, exc: InvalidRequest) -> None:
        from desktop.controller import error_message

        msg = error_message(exc)
        if key == "target_weight":
            msg += " (targets are entered in percent)"
        self._errors[(row, col)] = msg
        index = self.index(row, col)
        self.dataChanged.emit(index, index)
        self.editRefused.emit(row, col, msg)

    def push(self, command: Any) -> None:
        """Run ``command`` through the undo stack (or directly when there is none)."""
        if self._undo is not None:
            self._undo.push(command)
        else:
            command.redo()

    # --- applying (called by undo commands only) ----------------------------------------------
    def apply_holding(self, row: int, holding: Holding) -> None:
        holdings = list(self._portfolio.holdings)
        holdings[row] = holding
        self._portfolio = self._portfolio.model_copy(update={"holdings": holdings})
        self._errors = {k: v for k, v in self._errors.items() if k[0] != row}
        # A value change moves every weight, so the whole table is refreshed.
        self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1))
        self.portfolioChanged.emit()

    def apply_insert(self, row: int, holdings: Sequence[Holding]) -> None:
        self.beginInsertRows(QModelIndex(), row, row + len(holdings) - 1)
        rows = list(self._portfolio.holdings)
        rows[row:row] = list(holdings)
        self._portfolio = self._portfolio.model_copy(update={"holdings": rows})
        self._errors.clear()
        self.endInsertRows()
        self.portfolioChanged.emit()

    def apply_remove(self, row: int, count: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row + count - 1)
        rows = list(self._portfolio.holdings)
        del rows[row:row + count]
        self._portfolio = self._portfolio.model_copy(update={"holdings": rows})
        self._errors.clear()
        self.endRemoveRows()
        self.portfolioChanged.emit()

    def apply_portfolio(self, portfolio: Portfolio) -> None:
        self.beginResetModel()
        self._portfolio = portfolio
        self._errors.clear()
        self._lines = {}
        self.endResetModel()
        self.portfolioChanged.emit()

    # --- Qt model interface -------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._portfolio.holdings)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _EDITABLE_FLAGS if KEYS[index.column()] in EDITABLE else _READ_ONLY_FLAGS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1] if 0 <= section < len(COLUMNS) else None
        return str(section + 1)

    def _total_value(self) -> float:
        """The portfolio's value, summed once per portfolio (``data()`` asks for it per cell:
        5,000 holdings summed for every painted weight cell would stall the GUI thread)."""
        if self._total[0] is not self._portfolio:
            self._total = (self._portfolio, self._portfolio.total_value)
        return self._total[1]

    def raw(self, row: int, key: str) -> Any:
        """The unformatted value of a cell (also the sort key)."""
        h = self.holding(row)
        line = self._lines.get(h.symbol)
        if key == "value":
            return h.value
        if key == "weight":
            if line is not None:
                return line.current_weight
            total = self._total_value()
            return h.value / total if total > 0 else 0.0
        if key == "drift":
            return line.drift if line is not None else self.raw(row, "weight") - h.target_weight
        return getattr(h, key)

    def _display(self, row: int, key: str) -> str:
        value = self.raw(row, key)
        if key in PERCENT:
            return f"{value * 100:.2f} %"
        if key == "drift":
            return f"{value * 100:+.2f} pp"
        if key == "quantity":
            return _fmt_number(value, 6)
        if key in ("price", "value"):
            return f"{value:,.2f}"
        return str(value)

    def _tooltip(self, row: int, col: int) -> str | None:
        error = self._errors.get((row, col))
        if error:
            return error
        line = self._lines.get(self.holding(row).symbol)
        if KEYS[col] == "drift" and line is not None:
            band = f"band {line.band_low * 100:.2f} % – {line.band_high * 100:.2f} %"
            return f"{'Inside' if line.in_band else 'Outside'} the {band}. {line.reason}"
        if KEYS[col] == "symbol":
            info = self._catalogue.get(self.holding(row).symbol.upper())
            return f"{info.name} ({info.frequency}, {info.start} – {info.end})" if info is not None else None
        return None

    def _background(self, row: int, col: int) -> QColor | None:
        if (row, col) in self._errors:
            return _REFUSED
        if KEYS[col] == "drift":
            line = self._lines.get(self.holding(row).symbol)
            if line is not None:
                return _IN_BAND if line.in_band else _OUT_OF_BAND
        return None

    def index(self, row: int, column: int, parent: _Index = _NO_INDEX) -> QModelIndex:
        """As ``QAbstractTableModel.index``, without its two calls back into Python (``rowCount``
        and ``columnCount``): the view and the proxy ask for an index for every cell they paint."""
        if parent.isValid() or not (0 <= row < len(self._portfolio.holdings) and 0 <= column < len(COLUMNS)):
            return QModelIndex()
        return self.createIndex(row, column)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < self.rowCount()):
            return None
        return self._role(index.row(), index.column(), int(role))

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan) -> None:
        """Every role a delegate asks for, in one call (Qt 6 paints a cell with one ``multiData``
        instead of seven ``data`` calls, each a trip from C++ into Python for the GIL)."""
        valid = index.isValid() and 0 <= index.row() < len(self._portfolio.holdings)
        row, col = index.row(), index.column()
        for role_data in roleDataSpan:
            value = self._role(row, col, role_data.role()) if valid else None
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)

    def _role(self, row: int, col: int, role: int) -> Any:
        key = KEYS[col]
        if role == _DISPLAY:
            return self._display(row, key)
        if role == _EDIT:
            value = self.raw(row, key)
            return round(value * 100, 10) if key == "target_weight" else value
        if role == _USER:
            return self.raw(row, key)
        if role == _TOOLTIP:
            return self._tooltip(row, col)
        if role == _BACKGROUND:
            return self._background(row, col)
        if role == _ALIGNMENT and key in NUMERIC:
            return _RIGHT
        return None
