"""The holdings model and editor: engine-validated edits, refusals at the cell, undo/redo,
row actions, paste, import, sort and filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QLineEdit

from desktop.holdings_model import KEYS, HoldingsModel
from desktop.holdings_panel import HoldingsPanel
from engine.holdings_import import ColumnMapping

QTY, PRICE, TARGET, SYMBOL, VALUE = (KEYS.index(k) for k in ("quantity", "price", "target_weight", "symbol", "value"))


@pytest.fixture
def stack() -> QUndoStack:
    return QUndoStack()


@pytest.fixture
def model(sample, stack) -> HoldingsModel:
    return HoldingsModel(sample, stack)


@pytest.fixture
def panel(qtbot, model, catalogue) -> HoldingsPanel:
    widget = HoldingsPanel(model)
    widget.set_catalogue(catalogue)
    qtbot.addWidget(widget)
    return widget


def test_qtmodeltester(qtmodeltester, model) -> None:
    qtmodeltester.check(model, force_py=True)


def test_cells_show_the_engine_holdings(model, sample) -> None:
    spy = sample.holdings[0]
    assert model.rowCount() == len(sample.holdings) and model.columnCount() == len(KEYS)
    assert model.index(0, SYMBOL).data() == "SPY"
    assert model.index(0, QTY).data() == "190"
    assert model.index(0, VALUE).data(Qt.ItemDataRole.UserRole) == pytest.approx(190 * spy.price)
    assert model.index(0, TARGET).data() == "35.00 %"
    assert model.index(0, TARGET).data(Qt.ItemDataRole.EditRole) == pytest.approx(35.0)


def test_keyboard_edit_updates_model_and_is_undoable(qtbot, panel, model, stack) -> None:
    panel.show()
    view = panel.view
    index = panel.proxy.mapFromSource(model.index(0, QTY))
    view.setCurrentIndex(index)
    view.edit(index)
    editor = view.findChild(QLineEdit)  # offscreen there is no focus widget (QT-NOTES.md)
    editor.selectAll()
    qtbot.keyClicks(editor, "250")
    with qtbot.waitSignals([model.dataChanged, model.portfolioChanged]):
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert model.holding(0).quantity == 250.0
    assert stack.count() == 1 and stack.undoText() == "Edit quantity of SPY"
    stack.undo()
    assert model.holding(0).quantity == 190.0
    stack.redo()
    assert model.holding(0).quantity == 250.0


def test_invalid_entry_is_refused_with_the_engine_message(qtbot, model, stack, sample) -> None:
    with qtbot.waitSignal(model.editRefused) as refused:
        assert not model.setData(model.index(1, PRICE), "-3")
    assert refused.args[:2] == [1, PRICE]
    assert refused.args[2] == "Input should be greater than 0 (1.price)"
    assert model.portfolio() == sample and stack.count() == 0
    assert model.index(1, PRICE).data(Qt.ItemDataRole.ToolTipRole) == refused.args[2]
    assert model.index(1, PRICE).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert not model.setData(model.index(1, QTY), "many")
    assert model.cell_error(1, QTY) == "Input should be a valid number (1.quantity)"
    assert not model.setData(model.index(1, SYMBOL), "spy")  # duplicate: a portfolio rule
    assert "duplicate symbol 'SPY'" in model.cell_error(1, SYMBOL)
    assert model.setData(model.index(1, QTY), "300")  # a good edit clears the row's refusals
    assert model.cell_error(1, PRICE) is None


def test_targets_are_edited_in_percent_and_the_sum_is_an_indicator(model, panel) -> None:
    assert model.setData(model.index(0, TARGET), "30")
    assert model.holding(0).target_weight == pytest.approx(0.30)
    assert panel.indicator.text() == "Targets sum to 95.00 % — must be 100 %"
    assert panel.indicator.toolTip() == "target weights sum to 0.950000; they must sum to 1 (±1e-06)"
    panel.normalise_targets()
    assert model.target_problem() is None
    assert model.holding(0).target_weight == pytest.approx(0.30 / 0.95)
    assert panel.indicator.text() == "Targets sum to 100.00 %"


def test_a_catalogue_symbol_fills_name_class_and_latest_price(model, panel, catalogue) -> None:
    wti = next(s for s in catalogue if s.symbol == "WTI")
    assert model.setData(model.index(3, SYMBOL), "wti")
    h = model.holding(3)
    assert (h.symbol, h.name, h.asset_class, h.price, h.quantity) == ("WTI", wti.name, "commodity", wti.last_price, 148.0)


def test_add_duplicate_remove_rows_with_undo(panel, model, stack, sample) -> None:
    n = len(sample.holdings)
    panel.add_row()
    assert model.rowCount() == n + 1
    added = model.holding(n)
    assert added.symbol not in {h.symbol for h in sample.holdings} and added.quantity == 0 and added.price > 0
    panel.view.setCurrentIndex(panel.proxy.mapFromSource(model.index(0, 0)))
    panel.duplicate_selected()
    assert model.holding(n + 1).symbol == "SPY-2" and model.holding(n + 1).target_weight == 0.0
    panel.view.selectRow(panel.proxy.mapFromSource(model.index(n, 0)).row())
    panel.remove_selected()
    assert [h.symbol for h in model.portfolio().holdings][-1] == "SPY-2" and model.rowCount() == n + 1
    stack.undo()
    stack.undo()
    stack.undo()
    assert model.portfolio() == sample


def test_removing_every_row_is_refused_by_the_engine(panel, model, sample) -> None:
    panel.view.selectAll()
    panel.remove_selected()
    assert model.portfolio() == sample
    assert "at least 1 item" in panel.message.text()


def test_paste_block_overwrites_and_appends_rows(panel, model, stack, sample) -> None:
    panel.view.setCurrentIndex(panel.proxy.mapFromSource(model.index(len(sample.holdings) - 1, SYMBOL)))
    assert panel.paste_text("KO\tCoca-Cola\tstock\t10\n PG \t\t\t5\n")
    rows = model.portfolio().holdings
    assert [(h.symbol, h.quantity, h.asset_class) for h in rows[-2:]] == [("KO", 10.0, "stock"), ("PG", 5.0, "stock")]
    assert rows[-1].price > 0 and len(rows) == len(sample.holdings) + 1
    stack.undo()
    assert model.portfolio() == sample
    panel.view.setCurrentIndex(panel.proxy.mapFromSource(model.index(len(sample.holdings) - 1, SYMBOL)))
    # the second line is a new row with no price and no class: the engine refuses the block
    assert not panel.paste_text("UST10Y_TR_DERIVED\t\t\t1\nZZZNOTBUNDLED\t\t\t1\n")
    assert model.portfolio() == sample and "Field required" in panel.message.text()


def test_csv_import_good_file_replaces_holdings_bad_file_changes_nothing(panel, model, stack, sample, tmp_path: Path) -> None:
    good = tmp_path / "custodian.csv"
    good.write_text("Symbol,Description,Quantity,Price\nSPY,S&P 500,200,\"3,000.00\"\nAGG,Bonds,\"1,000\",110\n",
                    encoding="utf-8")
    assert panel.import_holdings(good) is None
    rows = model.portfolio().holdings
    assert [(h.symbol, h.quantity, h.price, h.target_weight) for h in rows] == [
        ("SPY", 200.0, 3000.0, 0.35), ("AGG", 1000.0, 110.0, 0.0)]
    assert stack.undoText() == "Import holdings from custodian.csv"
    stack.undo()
    bad = tmp_path / "bad.csv"
    bad.write_text("Sym,Qty,Px\nSPY,10,300\nAGG,-4,110\n", encoding="utf-8")
    error = panel.import_holdings(bad, ColumnMapping("Sym", "Qty", price="Px"))
    assert error == "bad.csv, row 3, column 'Qty': quantity: Input should be greater than or equal to 0"
    assert model.portfolio() == sample and stack.count() == 1


def test_sort_and_filter_through_the_proxy(panel, model) -> None:
    panel.view.sortByColumn(VALUE, Qt.SortOrder.DescendingOrder)
    values = [panel.proxy.index(r, VALUE).data(Qt.ItemDataRole.UserRole) for r in range(panel.proxy.rowCount())]
    assert values == sorted(values, reverse=True)
    panel.filter.setText("etf")
    assert {panel.proxy.index(r, SYMBOL).data() for r in range(panel.proxy.rowCount())} == {"SPY", "USMV", "QUAL"}
    # an edit through the sorted, filtered view lands on the right holding
    assert panel.proxy.setData(panel.proxy.index(0, QTY), "7")
    assert sum(h.quantity == 7.0 for h in model.portfolio().holdings) == 1
