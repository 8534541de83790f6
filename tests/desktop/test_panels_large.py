"""Thousands of assets: the charts draw a bounded number of items and keep the data exact."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt

from desktop.panels.charts import CategoryBarChart, GroupedBarChart
from desktop.panels.formatting import bullets, short_list
from desktop.panels.heatmap import NUMBERS_MAX, CorrelationHeatmap
from desktop.panels.risk_view import correlation_array, top_categories


def _corr(n: int, seed: int = 1) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((200, n))
    return np.corrcoef(x, rowvar=False)


def _texts(plot) -> list:
    return [item for item in plot.items if isinstance(item, pg.TextItem)]


def test_heatmap_of_60_assets_has_no_cell_text_but_the_whole_matrix(qtbot):
    heat = CorrelationHeatmap()
    qtbot.addWidget(heat)
    symbols = [f"A{k:02d}" for k in range(60)]
    matrix = _corr(60)
    heat.set_data(symbols, matrix.tolist())
    assert not heat.numbered and heat._labels == [] and _texts(heat.plot_item) == []
    np.testing.assert_array_equal(heat.values, matrix)
    np.testing.assert_array_equal(heat.image.image, matrix)
    assert heat.colorbar.values == (-1.0, 1.0)
    # The bottom axis labels every 5th symbol (at most 12), the full names are kept.
    shown = heat.plot_item.getAxis("bottom")._tickLevels[0]
    assert [t[0] for t in shown] == list(range(0, 60, 5)) and heat.col_ticks.labels == symbols


def test_heatmap_hover_names_the_cell_and_its_value(qtbot):
    heat = CorrelationHeatmap()
    qtbot.addWidget(heat)
    heat.resize(700, 600)
    heat.show()
    qtbot.waitExposed(heat)
    symbols = [f"A{k:02d}" for k in range(60)]
    matrix = _corr(60)
    matrix[3, 7] = matrix[7, 3] = -0.4251
    heat.set_data(symbols, matrix)
    view = heat.plot_item.getViewBox()
    heat._hover(view.mapViewToScene(QPointF(7, 3)))
    assert heat.toolTip() == "A03 × A07: \u22120.43"


def test_heatmap_numbers_up_to_the_limit_then_pool_hidden(qtbot):
    heat = CorrelationHeatmap()
    qtbot.addWidget(heat)
    n = NUMBERS_MAX
    heat.set_data([f"S{k}" for k in range(n)], np.eye(n))
    assert heat.numbered and len(heat._labels) == n * n
    heat.set_data([f"S{k}" for k in range(n + 1)], np.eye(n + 1))
    assert len(heat._labels) == n * n and not any(label.isVisible() for label in heat._labels)


def test_correlation_array_blocks_and_undefined_cells():
    matrix = _corr(70).tolist()
    for i in range(70):
        matrix[i][65] = matrix[65][i] = None
    out = correlation_array(matrix, block=16)
    assert np.isnan(out[:, 65]).all() and np.isnan(out[65]).all()
    expected = _corr(70)
    keep = np.arange(70) != 65
    np.testing.assert_array_equal(out[np.ix_(keep, keep)], expected[np.ix_(keep, keep)])


def test_top_categories_keeps_the_largest_and_sums_the_rest():
    labels = [f"S{k}" for k in range(30)]
    before = np.linspace(0.0, 0.29, 30)
    after = before[::-1].copy()
    capped = top_categories(labels, [before, after], limit=4)
    # By the larger of |before| and |after|: the two ends first.
    assert capped.labels == ["S0", "S29", "S1", "S28", "other (26)"]
    assert capped.n_other == 26 and capped.index.tolist() == [0, 29, 1, 28, -1]
    assert capped.series[0].sum() == pytest.approx(before.sum())
    assert capped.series[1][-1] == pytest.approx(after[2:28].sum())
    small = top_categories(labels[:5], [before[:5]], limit=4)  # one over the limit: no "other" of one
    assert small.labels == labels[:5] and small.n_other == 0


def test_bar_chart_with_5000_categories_shows_the_top_25_and_other(qtbot):
    chart = CategoryBarChart(title="Loss by holding")
    qtbot.addWidget(chart)
    values = np.random.default_rng(4).normal(0.0, 0.01, 5_000)
    labels = [f"S{k:05d}" for k in range(5_000)]
    chart.set_data(labels, values)
    order = np.argsort(-np.abs(values), kind="stable")[:25]
    assert len(chart.values) == 26 and chart.ticks.labels == [labels[i] for i in order] + ["other (4,975)"]
    np.testing.assert_array_equal(chart.values[:25], values[order])
    assert chart.values[25] == pytest.approx(np.delete(values, order).sum())
    assert "largest 25 of 5,000" in chart.plot_item.titleLabel.text
    hidden = int(np.argsort(np.abs(values))[0])  # the smallest is summed into "other"
    chart.set_highlight(hidden)
    assert chart.bars.opts["pens"][25].widthF() == 2
    chart.set_highlight(int(order[3]))
    assert chart.bars.opts["pens"][3].widthF() == 2 and chart.bars.opts["pens"][25].style() == Qt.PenStyle.NoPen


def test_grouped_chart_with_5000_holdings_keeps_totals(qtbot):
    chart = GroupedBarChart(title="Weights")
    qtbot.addWidget(chart)
    rng = np.random.default_rng(5)
    before, after = rng.dirichlet(np.ones(5_000)), rng.dirichlet(np.ones(5_000))
    target: list[float | None] = list(after)
    target[-1] = None
    chart.set_data([f"S{k}" for k in range(5_000)], before, after, target)
    assert len(chart.before_bars.opts["height"]) == 26 and chart.ticks.labels[-1] == "other (4,975)"
    assert chart.before_bars.opts["height"].sum() == pytest.approx(1.0)
    assert chart.after_bars.opts["height"].sum() == pytest.approx(1.0)
    _, ty = chart.target_marks.getData()
    assert len(ty) == 52 and ty[::2].sum() == pytest.approx(after[:-1].sum())
    assert "largest 25 of 5,000" in chart.plot_item.titleLabel.text


def test_long_note_lists_are_cut_with_a_count():
    notes = [f"S{k} has no history of its own: SPY is used instead." for k in range(5_000)]
    html = bullets(notes)
    assert html.count("•") == 9 and html.endswith("… and 4,992 more like these")
    assert bullets(notes[:3]) == "<br>".join(f"• {n}" for n in notes[:3])
    assert short_list(["A", "B", "C"], 2) == "A, B, … and 1 more" and short_list(["A"], 2) == "A"
