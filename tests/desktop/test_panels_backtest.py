"""Backtest tab: a real backtest run through the tab; curves and statistics equal the result; cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QUndoStack

from desktop.holdings_model import HoldingsModel
from desktop.panels.backtest_tab import STAT_COLUMNS, BacktestTab, build_backtest_request
from desktop.panels.charts import dates_to_seconds
from engine import service
from engine.schemas import RebalancePolicy

P5, P1 = "P5_CONSERVATIVE_INCOME", "P1_CLASSIC_60_40"
TIMEOUT = 120_000
NAMES = ["Buy and hold", "Calendar (monthly)", "Calendar (quarterly)", "Calendar (annual)", "Threshold bands",
         "AI targets (monthly)"]


@pytest.fixture(scope="module")
def expected():
    return service.backtest(build_backtest_request(service.sample_portfolio(P5), None))


def _tab(qtbot, pid):
    model = HoldingsModel(service.sample_portfolio(pid), QUndoStack())
    tab = BacktestTab(model)
    qtbot.addWidget(tab)
    tab._test_model = model
    return tab, model


def _run(qtbot, tab):
    with qtbot.waitSignal(tab.resultReady, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def _column(tab, header, role=Qt.ItemDataRole.UserRole):
    m = tab.stats_model
    col = [c[0] for c in STAT_COLUMNS].index(header)
    return [m.data(m.index(r, col), role) for r in range(m.rowCount())]


def test_curves_and_statistics_equal_the_result(qtbot, expected):
    tab, _model = _tab(qtbot, P5)
    progress: list[float] = []
    tab.progress.valueChanged.connect(progress.append)
    shown = _run(qtbot, tab)
    assert [p.name for p in shown.policies] == [p.name for p in expected.policies] == NAMES
    for p in expected.policies:
        x, y = tab.chart.curves[p.name].getOriginalDataset()
        np.testing.assert_array_equal(x, dates_to_seconds(p.equity.dates))
        np.testing.assert_allclose(y, p.equity.values, rtol=1e-12)
        assert len(y) == 33  # 32 monthly returns and the start
    assert _column(tab, "Policy") == NAMES
    for header, field in (("End value", "end_value"), ("Total return", "total_return"), ("CAGR", "cagr"),
                          ("Volatility", "volatility"), ("Max drawdown", "max_drawdown"),
                          ("Turnover a year", "annualised_turnover"), ("Total turnover", "total_turnover"),
                          ("Costs", "total_costs"), ("Rebalances", "n_rebalances")):
        assert _column(tab, header) == pytest.approx([getattr(p, field) for p in expected.policies], rel=1e-9), header
    assert _column(tab, "Rebalances", Qt.ItemDataRole.DisplayRole)[:2] == ["0", "32 of 32"]
    assert _column(tab, "Costs", Qt.ItemDataRole.DisplayRole)[0] == "$0"
    assert progress[-1] == 100 and tab.progress.value() == 100
    assert "2014-01-31 → 2016-09-30" in tab.info_label.text() and "32 monthly returns" in tab.info_label.text()
    assert "12 of 32 decisions had no AI targets" in tab.warnings_label.text()
    colours = _column(tab, "Policy", Qt.ItemDataRole.DecorationRole)
    assert colours[-1] == QColor("#e07b24") and len({c.name() for c in colours}) == len(NAMES)
    assert not tab.cancel_button.isEnabled() and tab.run_button.isEnabled()


def test_log_scale_keeps_the_data(qtbot, expected):
    tab, _model = _tab(qtbot, P5)
    _run(qtbot, tab)
    tab.log_check.setChecked(True)
    assert tab.chart.is_log_scale()
    curve = tab.chart.curves["Calendar (annual)"]
    values = expected.policies[3].equity.values
    np.testing.assert_allclose(curve.getOriginalDataset()[1], values, rtol=1e-12)
    np.testing.assert_allclose(curve.getData()[1], np.log10(values), rtol=1e-12)
    axis = tab.chart.plot_item.getAxis("left")
    assert axis.tickStrings([np.log10(500_000.0)], 1.0, 1.0) == ["$500k"]
    tab.log_check.setChecked(False)
    assert not tab.chart.is_log_scale()


def test_selecting_a_row_highlights_its_curve(qtbot):
    tab, _model = _tab(qtbot, P5)
    _run(qtbot, tab)
    tab.table.selectRow(5)
    assert tab.chart.highlighted == "AI targets (monthly)"
    assert tab.chart.curves["AI targets (monthly)"].opts["pen"].widthF() > tab.chart.curves["Buy and hold"].opts["pen"].widthF()


def test_cancel_stops_the_run(qtbot):
    tab, _model = _tab(qtbot, P1)
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert tab.cancel_button.isEnabled() and not tab.run_button.isEnabled()
    with qtbot.waitSignal(tab.cancelled, timeout=TIMEOUT):
        qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.run_button.isEnabled())
    assert tab.result is None and tab.stats_model.rowCount() == 0
    assert "Backtest cancelled." in tab.message_label.text()


def test_an_engine_refusal_is_shown(qtbot):
    tab, model = _tab(qtbot, P5)
    rows = [h.model_dump() | {"target_weight": 0.1} for h in model.portfolio().holdings]
    model.apply_portfolio(model.propose(rows))
    with qtbot.waitSignal(tab.failed, timeout=TIMEOUT) as blocker:
        tab.run()
    assert "sum" in blocker.args[0] and "did not run" in tab.message_label.text()


def test_the_request_has_no_cash_flow():
    portfolio = service.sample_portfolio(P5)
    policy = RebalancePolicy(cash_flow=5_000.0, cost_bps=20.0)
    request = build_backtest_request(portfolio, policy)
    assert request["policy"] == policy.model_dump() | {"cash_flow": 0.0}
    assert "policy" not in build_backtest_request(portfolio, None)


def test_a_change_of_the_holdings_is_noted(qtbot):
    tab, model = _tab(qtbot, P5)
    _run(qtbot, tab)
    original = model.portfolio()
    model.apply_portfolio(original.model_copy(update={"cash": 1_000.0}))
    assert "changed since this backtest" in tab.message_label.text() and tab.message_label.isVisibleTo(tab)
    model.apply_portfolio(original)
    assert not tab.message_label.isVisibleTo(tab)


def test_renders_with_real_results(qtbot, tmp_path):
    tab, _model = _tab(qtbot, P5)
    tab.resize(1260, 680)
    tab.show()
    qtbot.waitExposed(tab)
    _run(qtbot, tab)
    tab.grab()  # the first paint sizes the axes; the second is the picture
    path = tmp_path / "backtest.png"
    assert tab.grab().save(str(path))
    image = QImage(str(path))
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 40
