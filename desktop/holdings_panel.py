"""The holdings editor: the table, its delegates and the row actions around it.

Every change goes through ``HoldingsModel.propose`` (the engine's validation) and an undo
command; a refusal is shown at the cell and in the message line, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTableView,
    QToolBar,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.commands import InsertHoldingsCommand, RemoveHoldingsCommand, ReplacePortfolioCommand
from desktop.controller import error_message
from desktop.holdings_model import COLUMNS, EDITABLE, KEYS, HoldingsModel
from desktop.holdings_view import AssetClassDelegate, HoldingsProxy, RowNumberHeader, TextDelegate
from engine.errors import DataError, InvalidRequest

__all__ = ["HoldingsPanel", "ImportMappingDialog"]


class ImportMappingDialog(QDialog):
    """Choose which column of a custodian file holds each field (with a preview)."""

    FIELDS = (("symbol", "Symbol *"), ("quantity", "Quantity *"), ("price", "Price"), ("name", "Name"),
              ("asset_class", "Asset class"), ("target_weight", "Target weight"))

    def __init__(self, table: Any, guess: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import holdings from {table.file}")
        form = QFormLayout()
        self.combos: dict[str, QComboBox] = {}
        for key, label in self.FIELDS:
            combo = QComboBox()
            combo.addItem("(not in the file)", None)
            for h in table.header:
                combo.addItem(h, h)
            chosen = getattr(guess, key, None) if guess is not None else None
            combo.setCurrentIndex(max(0, combo.findData(chosen)))
            self.combos[key] = combo
            form.addRow(label, combo)
        preview = "\n".join(", ".join(r) for r in [table.header, *table.rows[:4]])
        note = QLabel(f"Missing prices, names and classes come from the bundled catalogue.\n\n{preview}")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def mapping(self) -> Any:
        from engine.holdings_import import ColumnMapping

        chosen = {k: c.currentData() for k, c in self.combos.items()}
        return ColumnMapping(**chosen) if chosen["symbol"] and chosen["quantity"] else None


class HoldingsPanel(QWidget):
    """Table, filter, actions (add/remove/duplicate/paste/import/normalise), indicator, message."""

    def __init__(self, model: HoldingsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = HoldingsProxy(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self._build_table()
        self._build_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.view, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.message, 1)
        footer.addWidget(self.totals)
        footer.addWidget(self.indicator)
        layout.addLayout(footer)
        model.portfolioChanged.connect(self._update_indicator)
        model.modelReset.connect(self._update_indicator)
        model.editRefused.connect(self._show_refusal)
        self._update_indicator()

    def _build_table(self) -> None:
        self.view = QTableView(self)
        rows = RowNumberHeader(self.view)
        rows.setSectionsClickable(True)  # as QTableView's own vertical header
        rows.setHighlightSections(True)
        self.view.setVerticalHeader(rows)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # file order until a header is clicked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 10)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.AnyKeyPressed)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(KEYS.index("name"), QHeaderView.ResizeMode.Stretch)
        widths = {"symbol": 150, "asset_class": 100, "quantity": 95, "price": 95, "value": 105,
                  "weight": 80, "target_weight": 80, "drift": 85}
        for key, width in widths.items():
            self.view.setColumnWidth(KEYS.index(key), width)
        self.symbol_delegate = TextDelegate(parent=self.view)
        self.view.setItemDelegateForColumn(KEYS.index("symbol"), self.symbol_delegate)
        self.view.setItemDelegateForColumn(KEYS.index("asset_class"), AssetClassDelegate(self.view))
        for key in ("name", "quantity", "price", "target_weight"):
            self.view.setItemDelegateForColumn(KEYS.index(key), TextDelegate(parent=self.view))

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(tip or text)
        self.view.addAction(action)
        return action

    def _build_bar(self) -> None:
        self.add_action = self._action("Add", self.add_row, "Ctrl+Ins", "Add a holding")
        self.remove_action = self._action("Remove", self.remove_selected, QKeySequence.StandardKey.Delete, "Remove the selected holdings")
        self.duplicate_action = self._action("Duplicate", self.duplicate_selected, "Ctrl+D", "Duplicate the selected holdings")
        self.paste_action = self._action("Paste", self.paste_from_clipboard, QKeySequence.StandardKey.Paste,
                                         "Paste a block copied from a spreadsheet at the current cell")
        self.copy_action = self._action("Copy", self.copy_selection, QKeySequence.StandardKey.Copy)
        self.import_action = self._action("Import…", self.choose_import, None, "Import holdings from a custodian CSV or XLSX")
        self.normalise_action = self._action("Normalise targets", self.normalise_targets, None,
                                             "Scale the targets so they sum to 100 %")
        self.filter = QLineEdit(placeholderText="Filter holdings…", clearButtonEnabled=True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.cash = QDoubleSpinBox(minimum=0, maximum=1e13, decimals=2, singleStep=1_000)
        self.cash.setGroupSeparatorShown(True)
        self.cash.setKeyboardTracking(False)
        self.cash.setToolTip("Uninvested cash in the base currency")
        self.cash.valueChanged.connect(self._cash_edited)
        self.toolbar = QToolBar("Holdings", self)
        for action in (self.add_action, self.remove_action, self.duplicate_action, self.paste_action,
                       self.import_action, self.normalise_action):
            self.toolbar.addAction(action)
        self.toolbar.addSeparator()
        self.toolbar.addWidget(QLabel(" Cash "))
        self.toolbar.addWidget(self.cash)
        self.toolbar.addSeparator()
        self.toolbar.addWidget(self.filter)
        self.message = QLabel(wordWrap=True, objectName="holdingsMessage")
        self.message.setStyleSheet("color: #b00020;")
        self.indicator = QLabel(objectName="targetSum")
        self.totals = QLabel(objectName="holdingsTotals")

    # --- helpers ------------------------------------------------------------------------------
    def set_catalogue(self, catalogue: Sequence[Any]) -> None:
        """Bundled series (``SeriesInfo``) offered for completion and used to fill new rows."""
        usable = {s.symbol: s for s in catalogue if s.asset_class is not None}
        self.model.set_catalogue(usable)
        self.symbol_delegate.completions = sorted(usable)

    def selected_rows(self) -> list[int]:
        rows = {self.proxy.mapToSource(i).row() for i in self.view.selectionModel().selectedIndexes()}
        current = self.view.currentIndex()
        if not rows and current.isValid():
            rows = {self.proxy.mapToSource(current).row()}
        return sorted(rows)

    def _try(self, build: Any) -> Any:
        """Run ``build()``; show the engine's refusal in the message line and return ``None``."""
        try:
            result = build()
        except (InvalidRequest, DataError) as exc:
            self.message.setText(error_message(exc))
            return None
        self.message.clear()
        return result

    def _unique_symbol(self, stem: str) -> str:
        taken = {h.symbol.upper() for h in self.model.portfolio().holdings}
        candidate, n = stem, 2
        while candidate.upper() in taken:
            candidate, n = f"{stem}-{n}", n + 1
        return candidate

    def _update_indicator(self) -> None:
        problem = self.model.target_problem()
        total = self.model.target_sum() * 100
        ok = problem is None
        p = self.model.portfolio()
        self.totals.setText(f"{len(p.holdings)} holdings · value {p.total_value:,.2f} {p.base_currency}"
                            f"{f' (cash {p.cash:,.2f})' if p.cash else ''}"
                            f"{f' · as of {p.as_of.isoformat()}' if p.as_of else ''}")
        self.indicator.setText(f"Targets sum to {total:.2f} %" + ("" if ok else " — must be 100 %"))
        self.indicator.setStyleSheet(f"color: {'#1b5e20' if ok else '#b00020'}; font-weight: bold; padding: 0 6px;")
        self.indicator.setToolTip(problem or "Target weights sum to 100 % of the investable value.")
        self.cash.blockSignals(True)
        self.cash.setValue(self.model.portfolio().cash)
        self.cash.blockSignals(False)

    def _show_refusal(self, row: int, column: int, message: str) -> None:
        symbol = self.model.holding(row).symbol
        self.message.setText(f"{symbol} · {COLUMNS[column][1]}: {message}")
        index = self.proxy.mapFromSource(self.model.index(row, column))
        rect = self.view.visualRect(index)
        QToolTip.showText(self.view.viewport().mapToGlobal(rect.bottomLeft()), message, self.view)

    # --- row actions --------------------------------------------------------------------------
    def add_row(self) -> None:
        held = {h.symbol.upper() for h in self.model.portfolio().holdings}
        free = [s for s in self.model.catalogue().values() if s.symbol.upper() not in held and s.last_price]
        if free:
            row = self.model.updated_row({"quantity": 0.0, "target_weight": 0.0}, "symbol", free[0].symbol)
        else:
            row = {"symbol": self._unique_symbol("NEW"), "asset_class": "stock", "quantity": 0.0, "price": 1.0,
                   "target_weight": 0.0}
        holdings = [*self.model.portfolio().holdings, row]
        portfolio = self._try(lambda: self.model.propose(holdings))
        if portfolio is not None:
            n = self.model.rowCount()
            self.model.push(InsertHoldingsCommand(self.model, n, portfolio.holdings[n:], "Add holding"))
            index = self.proxy.mapFromSource(self.model.index(n, KEYS.index("symbol")))
            self.view.setCurrentIndex(index)
            self.view.edit(index)

    def remove_selected(self) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        keep = [h for i, h in enumerate(self.model.portfolio().holdings) if i not in set(rows)]
        if self._try(lambda: self.model.propose(keep)) is not None:
            self.model.push(RemoveHoldingsCommand(self.model, rows, f"Remove {len(rows)} holding{'s' * (len(rows) > 1)}"))

    def duplicate_selected(self) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        copies = []
        for r in rows:
            h = self.model.holding(r)
            taken = {c["symbol"].upper() for c in copies}
            symbol = self._unique_symbol(h.symbol)
            while symbol.upper() in taken:
                symbol = self._unique_symbol(symbol)
            copies.append({**h.model_dump(), "symbol": symbol, "target_weight": 0.0})
        holdings = [*self.model.portfolio().holdings, *copies]
        portfolio = self._try(lambda: self.model.propose(holdings))
        if portfolio is not None:
            n = self.model.rowCount()
            self.model.push(InsertHoldingsCommand(self.model, n, portfolio.holdings[n:], "Duplicate holdings"))

    def normalise_targets(self) -> None:
        from engine.document import normalise_targets

        portfolio = self._try(lambda: normalise_targets(self.model.portfolio()))
        if portfolio is not None and portfolio != self.model.portfolio():
            self.model.push(ReplacePortfolioCommand(self.model, portfolio, "Normalise targets"))

    def _cash_edited(self, value: float) -> None:
        portfolio = self._try(lambda: self.model.propose(self.model.portfolio().holdings, cash=value))
        if portfolio is None:
            self._update_indicator()
        elif portfolio != self.model.portfolio():
            self.model.push(ReplacePortfolioCommand(self.model, portfolio, "Change cash"))

    # --- clipboard ----------------------------------------------------------------------------
    def copy_selection(self) -> None:
        indexes = sorted(self.view.selectionModel().selectedIndexes(), key=lambda i: (i.row(), i.column()))
        lines: dict[int, list[str]] = {}
        for i in indexes:
            lines.setdefault(i.row(), []).append(str(i.data(Qt.ItemDataRole.DisplayRole)))
        QGuiApplication.clipboard().setText("\n".join("\t".join(v) for v in lines.values()))

    def paste_from_clipboard(self) -> None:
        self.paste_text(QGuiApplication.clipboard().text())

    def paste_text(self, text: str) -> bool:
        """Paste a tab-separated block at the current cell; rows beyond the table are added.
        The whole block is refused if the engine refuses any cell of it."""
        block = [line.split("\t") for line in text.replace("\r\n", "\n").rstrip("\n").split("\n") if line.strip()]
        current = self.view.currentIndex()
        source = self.proxy.mapToSource(current) if current.isValid() else self.model.index(0, 0)
        top, left = max(source.row(), 0), max(source.column(), 0)
        rows: list[dict[str, Any]] = [h.model_dump() for h in self.model.portfolio().holdings]
        for i, cells in enumerate(block):
            r = top + i
            if r >= len(rows):
                rows.append({"quantity": 0.0, "target_weight": 0.0})
            for j, value in enumerate(cells):
                key = KEYS[left + j] if left + j < len(KEYS) else None
                if key in EDITABLE and value.strip():
                    rows[r] = self.model.updated_row(rows[r], key, value.strip())
        portfolio = self._try(lambda: self.model.propose(rows))
        if portfolio is None:
            return False
        self.model.push(ReplacePortfolioCommand(self.model, portfolio, f"Paste {len(block)} row{'s' * (len(block) > 1)}"))
        return True

    # --- import -------------------------------------------------------------------------------
    def import_holdings(self, path: str | Path, mapping: Any = None) -> str | None:
        """Replace the holdings by those of a custodian file; ``None`` on success, else the
        refusal (with row and column), in which case nothing changed."""
        from engine.holdings_import import guess_mapping, parse_holdings, read_table

        def build() -> Any:
            table = read_table(path)
            chosen = mapping or guess_mapping(table.header)
            if chosen is None:
                raise DataError("cannot tell which columns hold the symbol and the quantity; map them", file=table.file)
            holdings = parse_holdings(table, chosen, catalogue=self.model.catalogue().values(),
                                      existing=self.model.portfolio().holdings)
            return self.model.propose(holdings)

        portfolio = self._try(build)
        if portfolio is None:
            return self.message.text()
        self.model.push(ReplacePortfolioCommand(self.model, portfolio, f"Import holdings from {Path(path).name}"))
        return None

    def choose_import(self) -> None:
        from engine.holdings_import import guess_mapping, read_table

        path, _ = QFileDialog.getOpenFileName(self, "Import holdings", "", "Holdings (*.csv *.xlsx *.txt)")
        if not path:
            return
        table = self._try(lambda: read_table(path))
        if table is None:
            QMessageBox.warning(self, "Import refused", self.message.text())
            return
        dialog = ImportMappingDialog(table, guess_mapping(table.header), self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.mapping() is None:
            return
        error = self.import_holdings(path, dialog.mapping())
        if error:
            QMessageBox.warning(self, "Import refused", f"Nothing was changed.\n\n{error}")
