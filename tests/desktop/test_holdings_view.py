"""The holdings table's cheap paths give exactly what Qt's own would: ``multiData`` (model and
proxy) equals ``data`` role by role, the proxy maps flags and row headers through a sort, and
the row-number header's size hint equals the one QHeaderView computes over 200 sections."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, QModelRoleData, QModelRoleDataSpan, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableView

from desktop.holdings_model import KEYS, HoldingsModel
from desktop.holdings_panel import HoldingsPanel
from desktop.holdings_view import HoldingsProxy, RowNumberHeader
from engine.schemas import Portfolio

R = Qt.ItemDataRole
ROLES = (R.DisplayRole, R.EditRole, R.UserRole, R.ToolTipRole, R.BackgroundRole, R.TextAlignmentRole,
         R.FontRole, R.ForegroundRole, R.DecorationRole, R.CheckStateRole)
VALUE, DRIFT = KEYS.index("value"), KEYS.index("drift")


def multi(model, index: QModelIndex, role: R):
    cell = QModelRoleData(int(role))
    cell.setData("stale")  # what a caller may leave in it: a role the model does not serve is cleared
    model.multiData(index, QModelRoleDataSpan(cell))
    return cell.data()


@pytest.fixture
def big() -> Portfolio:
    n = 1_234
    return Portfolio(holdings=[{"symbol": f"S{i:04d}", "asset_class": "stock", "quantity": float(n - i),
                                "price": 10.0 + i % 7, "target_weight": 1.0 / n} for i in range(n)])


def test_model_multi_data_equals_data_for_every_role(sample) -> None:
    model = HoldingsModel(sample)
    model._errors[(1, 3)] = "refused"  # a refusal tint and tooltip
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            index = model.index(row, col)
            for role in ROLES:
                assert multi(model, index, role) == model.data(index, role), (row, col, role)
    assert multi(model, model.index(1, 3), R.BackgroundRole) == QColor(255, 214, 214)
    assert multi(model, QModelIndex(), R.DisplayRole) is None


def test_model_index_refuses_what_has_index_refuses(sample) -> None:
    model = HoldingsModel(sample)
    n = len(sample.holdings)
    assert model.index(n - 1, len(KEYS) - 1).isValid()
    for row, col in ((n, 0), (-1, 0), (0, len(KEYS)), (0, -1)):
        assert not model.index(row, col).isValid()
    assert not model.index(0, 0, model.index(0, 0)).isValid()


def test_proxy_forwards_multi_data_flags_and_row_numbers_through_a_sort(qtbot, sample, catalogue) -> None:
    model = HoldingsModel(sample)
    panel = HoldingsPanel(model)
    qtbot.addWidget(panel)
    proxy = panel.proxy
    assert isinstance(proxy, HoldingsProxy)
    panel.view.sortByColumn(VALUE, Qt.SortOrder.AscendingOrder)
    order = [proxy.mapToSource(proxy.index(r, 0)).row() for r in range(proxy.rowCount())]
    assert order != list(range(len(order)))  # the sort moved rows
    for r, source_row in enumerate(order):
        assert proxy.headerData(r, Qt.Orientation.Vertical) == str(source_row + 1)
        for col in range(len(KEYS)):
            index, source = proxy.index(r, col), model.index(source_row, col)
            assert proxy.flags(index) == model.flags(source)
            for role in ROLES:
                assert multi(proxy, index, role) == model.data(source, role)
    assert proxy.headerData(VALUE, Qt.Orientation.Horizontal) == "Value"


def test_row_number_header_size_hint_equals_qts(qtbot, big) -> None:
    """Qt measures the first and last 100 sections; ours a handful, with the same result."""
    proxy = QSortFilterProxyModel()
    model = HoldingsModel(big)
    proxy.setSourceModel(model)
    ours, theirs = QTableView(), QTableView()
    ours.setVerticalHeader(RowNumberHeader(ours))
    for view in (ours, theirs):
        qtbot.addWidget(view)
        view.setModel(proxy)
    assert isinstance(theirs.verticalHeader(), QHeaderView)
    assert ours.verticalHeader().sizeHint() == theirs.verticalHeader().sizeHint()
    ours.sortByColumn(VALUE, Qt.SortOrder.DescendingOrder)
    proxy.setFilterFixedString("S1")  # fewer rows, fewer digits in the widest label
    assert ours.verticalHeader().sizeHint() == theirs.verticalHeader().sizeHint()
    assert ours.verticalHeader().sizeHint().width() > 0
