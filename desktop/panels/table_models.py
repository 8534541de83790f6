"""Read-only Qt table models over the trade list and the scenario results.

``DisplayRole`` is the formatted text, ``Qt.UserRole`` the raw value (the sort key, and what
tests compare with the result models), ``ToolTipRole`` the explanation in words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QTableView

from desktop.panels.formatting import bullets, money, pct, pp, short_list, signed_pct, units
from engine.schemas.results import ScenarioResult, TradeLine

__all__ = ["SCENARIO_COLUMNS", "TRADE_COLUMNS", "ReadOnlyTable", "ScenarioTableModel", "TradeTableModel", "result_table"]

_ACTION_COLORS = {"BUY": QColor("#1e7d45"), "SELL": QColor("#b3261e"), "HOLD": QColor("#7b8794")}
_LOSS, _GAIN, _MUTED = QColor("#b3261e"), QColor("#1e7d45"), QColor("#7b8794")
_BOLD = QFont()
_BOLD.setBold(True)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

Index = QModelIndex | QPersistentModelIndex


def _traded(t: TradeLine, text: str) -> str:
    # A HOLD line trades nothing: an empty cell reads better than a column of zeros.
    return text if t.action != "HOLD" else ""


# (header, raw value, text, numeric?)
TRADE_COLUMNS: tuple[tuple[str, Callable[[TradeLine], Any], Callable[[TradeLine], str], bool], ...] = (
    ("Action", lambda t: t.action, lambda t: t.action, False),
    ("Symbol", lambda t: t.symbol, lambda t: t.symbol, False),
    ("Units", lambda t: t.units, lambda t: _traded(t, units(t.units)), True),
    ("Price", lambda t: t.price, lambda t: money(t.price, digits=2), True),
    ("Value", lambda t: t.trade_value, lambda t: _traded(t, money(t.trade_value)), True),
    ("Cost", lambda t: t.cost, lambda t: _traded(t, money(t.cost, digits=2)), True),
    ("Current", lambda t: t.current_weight, lambda t: pct(t.current_weight, 2), True),
    ("Target", lambda t: t.target_weight, lambda t: pct(t.target_weight, 2), True),
    ("Post-trade", lambda t: t.post_trade_weight, lambda t: pct(t.post_trade_weight, 2), True),
    ("Drift", lambda t: t.drift, lambda t: pp(t.drift), True),
    ("Why", lambda t: t.reason, lambda t: t.reason, False),
)


class ReadOnlyTable(QAbstractTableModel):
    """Rows of result objects; subclasses say how a cell looks."""

    headers: Sequence[str] = ()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_object(self, row: int) -> Any:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class TradeTableModel(ReadOnlyTable):
    """One row per :class:`TradeLine`, in the engine's order."""

    headers = tuple(c[0] for c in TRADE_COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        t: TradeLine = self._rows[index.row()]
        header, raw, text, numeric = TRADE_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text(t)
        if role == Qt.ItemDataRole.UserRole:
            return raw(t)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if numeric else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(t, header)
        if role == Qt.ItemDataRole.FontRole and header == "Action":
            return _BOLD
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(t, header)
        return None

    @staticmethod
    def _foreground(t: TradeLine, header: str) -> QColor | None:
        if header == "Action":
            return _ACTION_COLORS[t.action]
        if header == "Drift" and not t.in_band:
            return _LOSS
        if header == "Why":
            return _MUTED
        return None

    @staticmethod
    def _tooltip(t: TradeLine, header: str) -> str:
        if header == "Drift":
            return (f"Drift = current − target weight: {pp(t.drift)}; band {pct(t.band_low, 2)} to "
                    f"{pct(t.band_high, 2)}; {'inside' if t.in_band else 'outside'} the band. "
                    f"After the trades: {pp(t.post_trade_drift)}.")
        if header == "Target" and t.effective_target_weight is not None:
            return (f"Target {pct(t.target_weight, 2)} of the invested part; "
                    f"{pct(t.effective_target_weight, 2)} of the total once the cash reserve is kept.")
        if header == "Cost":
            return f"Estimated cost at {t.cost_bps:g} bps of the traded value."
        if header == "Units":
            return f"Traded in multiples of {units(t.trade_unit)}; {units(t.current_quantity)} held before, " \
                   f"{units(t.post_trade_quantity)} after."
        return f"{t.symbol} — {t.name} ({t.asset_class}): {t.reason}"


def _coverage(s: ScenarioResult) -> str:
    parts = []
    if s.proxied:
        parts.append("proxied: " + short_list(s.proxied))
    if s.uncovered:
        parts.append("uncovered: " + short_list(s.uncovered))
    return "; ".join(parts) or "all own data"


def _loss_text(s: ScenarioResult) -> str:
    # loss_value is positive for a loss; a gain is named as such rather than shown as a negative loss.
    return money(s.loss_value) if s.loss_value >= 0 else f"gain {money(abs(s.loss_value))}"


SCENARIO_COLUMNS: tuple[tuple[str, Callable[[ScenarioResult], Any], Callable[[ScenarioResult], str], bool], ...] = (
    ("Scenario", lambda s: s.name, lambda s: s.name, False),
    ("Window", lambda s: s.start, lambda s: f"{s.start:%Y-%m-%d} → {s.end:%Y-%m-%d}", False),
    ("Portfolio return", lambda s: s.portfolio_return, lambda s: signed_pct(s.portfolio_return), True),
    ("Max drawdown", lambda s: s.max_drawdown, lambda s: pct(s.max_drawdown), True),
    ("Loss", lambda s: s.loss_value, _loss_text, True),
    ("Data used", lambda s: len(s.proxied) + 10 * len(s.uncovered), _coverage, False),
)


class ScenarioTableModel(ReadOnlyTable):
    """One row per historical scenario."""

    headers = tuple(c[0] for c in SCENARIO_COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        s: ScenarioResult = self._rows[index.row()]
        header, raw, text, numeric = SCENARIO_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text(s)
        if role == Qt.ItemDataRole.UserRole:
            return raw(s)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if numeric else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            if header in ("Portfolio return", "Loss"):
                return _LOSS if s.loss_value > 0 else _GAIN
            if header == "Data used" and s.uncovered:
                return _LOSS
            return _MUTED if header == "Data used" else None
        if role == Qt.ItemDataRole.ToolTipRole:
            notes = bullets(s.warnings, 12).replace("<br>", "\n")
            return f"{s.name}: {s.start} to {s.end}\n{_coverage(s)}" + (f"\n{notes}" if notes else "")
        return None


def result_table(model: QAbstractTableModel, parent: QObject | None = None, *,
                 single_selection: bool = False) -> tuple[QTableView, QSortFilterProxyModel]:
    """A read-only, sortable table over ``model`` (sorted by its ``UserRole`` raw values).

    No sort indicator at first: the engine's order stays until a header is clicked.
    """
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    table = QTableView()
    table.setModel(proxy)
    table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    table.setSortingEnabled(True)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    if single_selection:
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    return table, proxy
