"""Each panel renders offscreen with real content, and fits the tab area of a 1280x800 window."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from desktop.panels.montecarlo_tab import MonteCarloTab
from desktop.panels.rebalance_tab import RebalanceTab
from desktop.panels.risk_tab import RiskTab
from desktop.panels.scenarios_tab import ScenariosTab
from tests.desktop.test_panels_data import monte_carlo_result, rebalance_result, risk_report, scenario_results

# The tab area of a 1280x800 main window (menu, toolbar, tab bar and status bar take the rest).
TAB_W, TAB_H = 1260, 680


def _rebalance():
    tab = RebalanceTab()
    tab.show_result(rebalance_result(limits=["cash", "lot_size"]))
    return tab, [tab.chart]


def _risk():
    tab = RiskTab()
    tab.show_report(risk_report())
    return tab, [tab.cumulative_chart, tab.drawdown_chart, tab.contribution_chart, tab.heatmap]


def _montecarlo():
    tab = MonteCarloTab()
    tab.show_result(monte_carlo_result())
    return tab, [tab.fan_chart, tab.histogram]


def _scenarios():
    tab = ScenariosTab()
    tab.show_results(scenario_results())
    return tab, [tab.bar_chart, tab.path_chart]


def _colours(image: QImage, step: int = 7) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


@pytest.mark.parametrize("build", [_rebalance, _risk, _montecarlo, _scenarios])
def test_panel_renders_with_content_and_fits(build, qtbot, tmp_path):
    tab, charts = build()
    qtbot.addWidget(tab)
    hint = tab.minimumSizeHint()
    assert hint.width() <= TAB_W and hint.height() <= TAB_H, hint
    tab.resize(TAB_W, TAB_H)
    tab.show()
    qtbot.waitExposed(tab)
    path = tmp_path / f"{build.__name__.strip('_')}.png"
    assert tab.grab().save(str(path))
    image = QImage(str(path))
    assert (image.width(), image.height()) == (TAB_W, TAB_H)
    assert _colours(image) > 40  # text, bars, bands: far from a blank grey page
    for chart in charts:
        # Every chart got a real share of the space and drew more than its white background.
        assert chart.width() >= 300 and chart.height() >= 180, (type(chart).__name__, chart.size())
        assert _colours(chart.grab().toImage(), step=3) > 8, type(chart).__name__
