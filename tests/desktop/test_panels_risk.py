"""The Risk tab plots exactly the report's arrays, names the metrics and explains them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from desktop.panels.charts import DateLineChart, dates_to_seconds
from desktop.panels.metric_cards import METRIC_SPECS
from desktop.panels.risk_tab import RiskTab, contribution_bars
from tests.desktop.test_panels_data import DATES, risk_report


@pytest.fixture
def tab(qtbot):
    widget = RiskTab()
    qtbot.addWidget(widget)
    return widget


def test_dates_become_utc_midnight_seconds():
    assert dates_to_seconds([dt.date(1970, 1, 2), dt.date(2024, 1, 2)]).tolist() == [86_400.0, 1_704_153_600.0]


def test_cards_show_before_arrow_after_with_dash_for_undefined(tab):
    tab.show_report(risk_report())
    cards = tab.cards.cards
    assert [s.field for s in METRIC_SPECS] == list(cards)  # every METRICS.md field, by its public name
    assert (cards["volatility"].before_text, cards["volatility"].after_text) == ("12.3 %", "11.1 %")
    assert (cards["sharpe"].before_text, cards["sharpe"].after_text) == ("0.86", "0.90")
    assert (cards["max_drawdown"].before_text, cards["max_drawdown"].after_text) == ("23.5 %", "20.0 %")
    assert "→" in cards["volatility"].value_label.text()
    for field in ("tracking_error", "information_ratio", "beta"):
        assert (cards[field].before_text, cards[field].after_text) == ("—", "—")
    assert cards["var_95"].unit_label.text() == "% loss per day"


def test_every_card_explains_how_and_over_which_window(tab):
    tab.show_report(risk_report())
    for field, card in tab.cards.cards.items():
        tip = card.toolTip()
        assert field in tip
        assert "2024-01-02 → 2024-01-11" in tip and "10 daily returns" in tip and "P = 252" in tip
    assert "std(r, ddof=1) × √P" in tab.cards.cards["volatility"].toolTip()
    assert "No benchmark" in tab.cards.cards["beta"].toolTip()


def test_without_after_side_cards_show_one_value_and_after_curves_hide(tab):
    tab.show_report(risk_report())
    tab.show_report(risk_report(with_after=False))
    card = tab.cards.cards["volatility"]
    assert card.after_text is None and card.value_label.text() == "12.3 %"
    assert tab.cumulative_chart.curves["after"].isVisible() is False
    assert tab.contribution_chart.after_bars.isVisible() is False


def test_cumulative_and_drawdown_curves_equal_the_report_arrays(tab):
    report = risk_report()
    tab.show_report(report)
    x = dates_to_seconds(DATES)
    for key, side in (("before", report.before), ("after", report.after)):
        cx, cy = tab.cumulative_chart.curves[key].getOriginalDataset()
        np.testing.assert_array_equal(cx, x)
        np.testing.assert_array_equal(cy, side.cumulative_return.values)
        dx, dy = tab.drawdown_chart.curves[key].getOriginalDataset()
        np.testing.assert_array_equal(dx, x)
        np.testing.assert_array_equal(dy, side.drawdown.values)  # positive losses, axis turned downwards
    assert tab.drawdown_chart.plot_item.getViewBox().yInverted()
    assert tab.cumulative_chart.getPlotItem().getAxis("bottom").__class__.__name__ == "DateAxisItem"


def test_long_daily_curves_are_drawn_downsampled_with_every_peak(qtbot):
    """5,000 daily points on a few hundred pixels: drawn as one min/max pair per pixel or so,
    so the deepest drawdown and the highest point are still on screen."""
    chart = DateLineChart([("before", "Current", "#1f77b4")], fill=True)
    qtbot.addWidget(chart)
    chart.resize(600, 280)
    chart.show()
    rng = np.random.default_rng(3)
    x = np.arange(5_040) * 86_400.0 + 1e9
    y = np.cumsum(rng.normal(0.0, 0.01, 5_040))
    chart.set_arrays("before", (x, y))
    curve = chart.curves["before"]
    qtbot.waitUntil(lambda: len(curve.getData()[0]) < 2_000)
    shown_x, shown_y = curve.getData()
    assert len(shown_x) >= 2 * chart.plot_item.getViewBox().width() * 0.5  # still about a pair per pixel
    assert shown_y.max() == y.max() and shown_y.min() == y.min()
    np.testing.assert_array_equal(curve.getOriginalDataset()[1], y)


def test_contribution_bars_are_the_shares_of_volatility(tab):
    report = risk_report()
    tab.show_report(report)
    symbols, before, after = contribution_bars(report)
    assert symbols == ["SPY", "AGG", "GLD"]
    np.testing.assert_array_equal(tab.contribution_chart.before_bars.opts["height"], [0.62, 0.33, 0.05])
    np.testing.assert_array_equal(tab.contribution_chart.after_bars.opts["height"], [0.60, 0.35, 0.05])
    assert (before, after) == ([0.62, 0.33, 0.05], [0.60, 0.35, 0.05])


def test_heatmap_holds_the_matrix_with_undefined_cells_empty(tab):
    tab.show_report(risk_report())
    heat = tab.heatmap
    expected = np.array([[1.0, -0.25, 0.1], [-0.25, 1.0, np.nan], [0.1, np.nan, 1.0]])
    np.testing.assert_array_equal(heat.values, expected)
    np.testing.assert_array_equal(heat.image.image, expected)
    texts = [label.toPlainText() for label in heat._labels[:9]]
    assert texts == ["1.00", "\u22120.25", "0.10", "\u22120.25", "1.00", "—", "0.10", "—", "1.00"]
    assert tuple(heat.image.levels) == (-1.0, 1.0)  # colours mean the same whatever the matrix
    assert heat.col_ticks.labels == heat.row_ticks.labels == ["SPY", "AGG", "GLD"]


def test_heatmap_numbers_only_where_they_fit_and_long_labels_shortened(qtbot):
    from desktop.panels.heatmap import CorrelationHeatmap

    heat = CorrelationHeatmap()
    qtbot.addWidget(heat)
    symbols = [f"UST10Y_TR_DERIVED_{k}" for k in range(12)]
    matrix = np.eye(12).tolist()
    heat.set_data(symbols, matrix)
    heat.resize(900, 700)
    heat.show()
    qtbot.waitExposed(heat)
    qtbot.waitUntil(lambda: all(label.isVisible() for label in heat._labels[:144]))
    heat.resize(300, 200)
    qtbot.waitUntil(lambda: not any(label.isVisible() for label in heat._labels))
    shown = [text for _, text in heat.plot_item.getAxis("bottom")._tickLevels[0]]
    assert all(text.endswith("…") for text in shown) and heat.col_ticks.labels == symbols


def test_window_and_data_quality_are_visible(tab):
    tab.show_report(risk_report())
    assert "2024-01-02 → 2024-01-11" in tab.window_label.text() and "P = 252" in tab.window_label.text()
    notes = tab.notes_label.text()
    assert not tab.notes_label.isHidden()
    assert "shorter than one year" in notes and "GLD" in notes and "GOLD" in notes and "XYZ" in notes


def test_error_is_shown(tab):
    tab.show_error("no price history for ABC")
    assert not tab.error_label.isHidden() and "ABC" in tab.error_label.text()
    tab.show_report(risk_report())
    assert tab.error_label.isHidden()
