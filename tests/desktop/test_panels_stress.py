"""Monte Carlo and Scenarios tabs: plotted data equal the results; run, cancel and progress."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop.panels.charts import dates_to_seconds
from desktop.panels.montecarlo_tab import MonteCarloTab
from desktop.panels.scenarios_tab import ScenariosTab
from desktop.panels.table_models import SCENARIO_COLUMNS
from tests.desktop.test_panels_data import monte_carlo_result, scenario_results


@pytest.fixture
def mc(qtbot):
    widget = MonteCarloTab()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def scen(qtbot):
    widget = ScenariosTab()
    qtbot.addWidget(widget)
    return widget


# --- Monte Carlo ------------------------------------------------------------------------------
def test_fan_chart_plots_every_band_against_years(mc):
    result = monte_carlo_result()
    mc.show_result(result)
    assert len(mc.fan_chart.curves) == 5
    for curve, band in zip(mc.fan_chart.curves, result.fan.bands, strict=True):
        x, y = curve.getData()
        np.testing.assert_allclose(x, np.arange(25) / 12)  # 24 monthly steps = 2 years
        np.testing.assert_array_equal(y, band)
    assert mc.fan_chart.start_line.value() == 100_000.0


def test_histogram_and_its_markers(mc):
    result = monte_carlo_result()
    mc.show_result(result)
    bars = mc.histogram.bars.opts
    np.testing.assert_array_equal(bars["x0"], result.histogram_edges[:-1])
    np.testing.assert_array_equal(bars["x1"], result.histogram_edges[1:])
    np.testing.assert_array_equal(bars["height"], result.histogram_counts)
    assert mc.histogram.markers["p5"].value() == 82_000.0
    assert mc.histogram.markers["start"].value() == 100_000.0
    legend = mc.histogram._legend
    assert legend.getLabel(mc.histogram._samples["p5"]).text == "5th percentile $82,000"


def test_figures_and_settings_are_shown(mc):
    mc.show_result(monte_carlo_result())
    assert "12.3 %" in mc.cards["probability_of_loss"].value_label.text()
    assert mc.cards["downside"].value_label.text() == "$82,000"
    assert mc.cards["median"].value_label.text() == "$109,000"
    assert mc.cards["var"].value_label.text() == "18.0 %"
    assert mc.cards["cvar"].value_label.text() == "23.5 %"
    info = mc.info_label.text()
    assert "Block bootstrap" in info and "1,000 paths" in info and "seed 7" in info and "2 years" in info
    assert "only 10 years of history" in mc.message_label.text()
    assert all("24 steps (2 years), 1,000 paths" in card.toolTip() for card in mc.cards.values())
    assert "worst 5 %" in mc.cards["cvar"].toolTip()


def test_a_negative_horizon_var_is_said_in_words(mc):
    result = monte_carlo_result().model_copy(update={"horizon_var_95": -0.4})
    mc.show_result(result)
    assert mc.cards["var"].value_label.text() == "No loss"
    assert "40.0 % up" in mc.cards["var"].unit_label.text()


def test_run_and_cancel_emit_their_signals(mc, qtbot):
    with qtbot.waitSignal(mc.runRequested, timeout=1000):
        mc.run_button.click()
    mc.set_busy(True)
    assert not mc.run_button.isEnabled() and mc.cancel_button.isEnabled()
    with qtbot.waitSignal(mc.cancelRequested, timeout=1000):
        qtbot.mouseClick(mc.cancel_button, Qt.MouseButton.LeftButton)
    mc.set_busy(False)
    assert mc.run_button.isEnabled() and not mc.cancel_button.isEnabled()


def test_progress_bar_follows_the_fraction(mc):
    mc.set_busy(True)
    assert mc.progress.value() == 0
    mc.set_progress(0.426)
    assert mc.progress.value() == 43
    mc.set_progress(1.0)
    assert mc.progress.value() == 100
    mc.set_progress(1.7)
    assert mc.progress.value() == 100


def test_mc_error_is_shown(mc):
    mc.show_error("cancelled")
    assert not mc.message_label.isHidden() and "cancelled" in mc.message_label.text()


# --- Scenarios --------------------------------------------------------------------------------
def _text(tab, row, header, role=Qt.ItemDataRole.DisplayRole):
    model = tab.table.model()
    return model.data(model.index(row, [c[0] for c in SCENARIO_COLUMNS].index(header)), role)


def test_scenario_table_equals_the_results(scen):
    results = scenario_results()
    scen.show_results(results)
    assert scen.table.model().rowCount() == 3
    assert [_text(scen, r, "Scenario") for r in range(3)] == [r.name for r in results]
    assert [_text(scen, r, "Portfolio return", Qt.ItemDataRole.UserRole) for r in range(3)] == [-0.339, -0.21, 0.012]
    assert [_text(scen, r, "Portfolio return") for r in range(3)] == ["\u221233.9 %", "\u221221.0 %", "+1.2 %"]
    assert _text(scen, 0, "Window") == "2007-10-09 → 2007-10-13"
    assert _text(scen, 0, "Max drawdown") == "37.3 %"
    assert _text(scen, 0, "Loss") == "$84,750"
    assert _text(scen, 2, "Loss") == "gain $3,000"
    assert _text(scen, 0, "Data used") == "proxied: BND"
    assert _text(scen, 1, "Data used") == "uncovered: BTC"


def test_bar_chart_is_each_scenario_return(scen):
    scen.show_results(scenario_results())
    np.testing.assert_array_equal(scen.bar_chart.values, [-0.339, -0.21, 0.012])
    assert scen.bar_chart.ticks.labels == ["2008 financial crisis", "2020 COVID crash", "2013 taper tantrum"]
    shown = scen.bar_chart.plot_item.getAxis("left")._tickLevels[0]
    assert [t[1] for t in shown] == scen.bar_chart.ticks.labels  # short enough to show whole


def test_selected_scenario_path_and_coverage(scen, qtbot):
    results = scenario_results()
    scen.show_results(results)
    x, y = scen.path_chart.curves["path"].getData()  # the first is selected at once
    np.testing.assert_array_equal(y, results[0].path.values)
    np.testing.assert_array_equal(x, dates_to_seconds(results[0].path.dates))
    assert "BND on AGG" in scen.coverage_label.text()
    scen.select_row(1)
    _, y = scen.path_chart.curves["path"].getData()
    np.testing.assert_array_equal(y, results[1].path.values)
    assert "Uncovered" in scen.coverage_label.text() and "BTC" in scen.coverage_label.text()
    assert scen.bar_chart.bars.opts["pens"][1].widthF() == 2  # the selected bar is outlined


def test_the_first_selection_is_the_worst_scenario_for_the_book(scen):
    results = list(reversed(scenario_results()))  # the 2008 loss (-33.9 %) is now last
    scen.show_results(results)
    assert scen.selected_result().id == "gfc"
    _, y = scen.path_chart.curves["path"].getData()
    np.testing.assert_array_equal(y, results[-1].path.values)


def test_selection_survives_new_results_and_sorting(scen):
    scen.show_results(scenario_results())
    scen.select_row(2)
    scen.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)  # by portfolio return
    assert scen.selected_result().id == "taper"
    scen.show_results(scenario_results())
    assert scen.selected_result().id == "taper"
    scen.show_results([])
    assert scen.selected_result() is None and scen.path_chart.curves["path"].isVisible() is False


def test_scenario_error_is_shown(scen):
    scen.show_error("no data")
    assert not scen.error_label.isHidden()
