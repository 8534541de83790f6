"""The Rebalance tab shows the engine's trade list exactly and exports the engine's blotter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from desktop.panels.rebalance_tab import RebalanceTab, limits_text, write_text_atomic
from desktop.panels.table_models import TRADE_COLUMNS
from engine.blotter import blotter_csv
from tests.desktop.test_panels_data import rebalance_result


@pytest.fixture
def tab(qtbot):
    widget = RebalanceTab()
    qtbot.addWidget(widget)
    return widget


def _cell(tab: RebalanceTab, row: int, header: str, role=Qt.ItemDataRole.DisplayRole):
    model = tab.table.model()
    col = [c[0] for c in TRADE_COLUMNS].index(header)
    return model.data(model.index(row, col), role)


def test_table_equals_the_trade_list_in_the_engine_order(tab):
    result = rebalance_result()
    tab.show_result(result)
    assert tab.table.model().rowCount() == len(result.trades)
    for row, t in enumerate(result.trades):
        assert _cell(tab, row, "Symbol") == t.symbol
        assert _cell(tab, row, "Action") == t.action
        assert _cell(tab, row, "Units", Qt.ItemDataRole.UserRole) == t.units
        assert _cell(tab, row, "Value", Qt.ItemDataRole.UserRole) == t.trade_value
        assert _cell(tab, row, "Cost", Qt.ItemDataRole.UserRole) == t.cost
        assert _cell(tab, row, "Post-trade", Qt.ItemDataRole.UserRole) == t.post_trade_weight
        assert _cell(tab, row, "Drift", Qt.ItemDataRole.UserRole) == t.drift


def test_cells_are_formatted_for_an_advisor(tab):
    tab.show_result(rebalance_result())
    # SELL 125 SPY at $400: $50,000 at 10 bps = $50.00; drift 0.62 - 0.60 = +2.00 pp.
    assert [_cell(tab, 0, h) for h in ("Units", "Price", "Value", "Cost", "Current", "Target", "Drift")] == [
        "125", "$400.00", "$50,000", "$50.00", "62.00 %", "60.00 %", "+2.00 pp"]
    assert _cell(tab, 1, "Drift") == "\u22122.00 pp"
    assert _cell(tab, 3, "Units") == "0.01234567"  # a crypto lot keeps its 8 decimals
    assert _cell(tab, 2, "Units") == "" and _cell(tab, 2, "Value") == ""  # HOLD trades nothing


def test_buy_and_sell_are_coloured_and_out_of_band_drift_stands_out(tab):
    tab.show_result(rebalance_result())
    fg = Qt.ItemDataRole.ForegroundRole
    sell, buy, hold = (_cell(tab, r, "Action", fg).name() for r in (0, 1, 2))
    assert len({sell, buy, hold}) == 3
    assert _cell(tab, 0, "Drift", fg) is not None  # outside its band
    assert _cell(tab, 2, "Drift", fg) is None  # inside its band
    assert "outside" in _cell(tab, 0, "Drift", Qt.ItemDataRole.ToolTipRole)


def test_weights_chart_plots_current_post_trade_and_target(tab):
    result = rebalance_result()
    tab.show_result(result)
    chart = tab.chart
    np.testing.assert_array_equal(chart.before_bars.opts["height"], [0.62, 0.33, 0.05, 0.0, 0.0])
    np.testing.assert_array_equal(chart.after_bars.opts["height"], [0.60, 0.3492, 0.05, 0.002, 0.0056332])
    _, ty = chart.target_marks.getData()
    # One tick (two points) per holding at its target; cash has none.
    np.testing.assert_array_equal(ty, np.repeat([0.60, 0.35, 0.05, 0.0], 2))
    assert chart.ticks.labels == ["SPY", "AGG", "GLD", "BTC", "CASH"]
    shown = chart.plot_item.getAxis("bottom")._tickLevels[0]
    assert [x for x, _ in shown] == [0.0, 1.0, 2.0, 3.0, 4.0]  # one label under each group


def test_totals_and_bound_limits_in_words(tab):
    tab.show_result(rebalance_result(limits=["turnover_limit", "lot_size"]))
    text = tab.summary_label.text()
    assert "3 trades" in text and "$48,494" in text and "$50,000" in text and "19.4 %" in text
    assert "limit 25.0 %" in text
    limits = tab.limits_label.text()
    assert "Turnover limit reached" in limits and "25.0 %" in limits and "Whole lots" in limits
    assert limits_text(rebalance_result().totals) == []
    tab.show_result(rebalance_result())
    assert "No limit bound" in tab.limits_label.text()


def test_export_writes_exactly_the_engine_blotter(tab, tmp_path, monkeypatch):
    result = rebalance_result()
    tab.set_portfolio_info("Smith family", "2024-06-28")
    tab.show_result(result)
    path = tmp_path / "blotter.csv"
    monkeypatch.setattr("desktop.panels.rebalance_tab.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(path), "CSV files (*.csv)"))
    tab.export_button.click()
    expected = blotter_csv(result, portfolio_name="Smith family", as_of="2024-06-28")
    assert path.read_bytes() == expected.encode("utf-8")  # \r\n kept, nothing added
    assert expected.count("\r\n") == 4  # header + 3 orders, HOLD left out
    assert str(path) in tab.message_label.text()
    assert [p.name for p in tmp_path.iterdir()] == ["blotter.csv"]  # no temporary file left


def test_cancelled_dialog_writes_nothing(tab, tmp_path, monkeypatch):
    tab.show_result(rebalance_result())
    monkeypatch.setattr("desktop.panels.rebalance_tab.QFileDialog.getSaveFileName", lambda *a, **k: ("", ""))
    monkeypatch.chdir(tmp_path)
    tab.export_button.click()
    assert list(tmp_path.iterdir()) == []


def test_copy_puts_the_blotter_on_the_clipboard(tab):
    result = rebalance_result()
    tab.show_result(result)
    tab.copy_button.click()
    assert QGuiApplication.clipboard().text() == blotter_csv(result)


def test_buttons_need_trades(tab):
    assert not tab.export_button.isEnabled()
    tab.show_result(rebalance_result(all_hold=True))
    assert not tab.copy_button.isEnabled()
    tab.show_result(rebalance_result())
    assert tab.export_button.isEnabled() and tab.copy_button.isEnabled()


def test_error_keeps_the_last_trades_and_says_so(tab):
    tab.show_result(rebalance_result())
    tab.show_error("Target weights must sum to 1 (holdings.0.target_weight)")
    assert not tab.message_label.isHidden()
    assert "sum to 1" in tab.message_label.text() and "last successful run" in tab.message_label.text()
    assert tab.table.model().rowCount() == 4


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    path.write_text("old", encoding="utf-8")
    write_text_atomic(path, "a,b\r\n1,2\r\n")
    assert path.read_bytes() == b"a,b\r\n1,2\r\n"

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_text_atomic(path, "new")
    assert path.read_bytes() == b"a,b\r\n1,2\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_failed_export_is_shown_not_raised(tab, tmp_path: Path):
    tab.show_result(rebalance_result())
    tab.export_to(tmp_path / "missing-folder" / "blotter.csv")
    assert "Could not save" in tab.message_label.text()
