"""Reusable pyqtgraph charts: they take plain arrays, create their items once and update them.

White background, dark text and antialiasing are set per widget, never through the process-wide
``pg.setConfigOptions``. Tests read the plotted data back (``bars.opts``, ``curve.getData()``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics

from desktop.panels.formatting import money_short, ordinal, pct_tick
from desktop.panels.risk_view import CappedCategories, dates_to_seconds, top_categories

__all__ = [
    "COLORS",
    "TICK_FONT",
    "CategoryBarChart",
    "CategoryTicks",
    "DateLineChart",
    "FanChart",
    "FormatAxis",
    "GroupedBarChart",
    "HistogramChart",
    "capped_title",
    "dates_to_seconds",
    "style_axes",
    "style_plot",
]

# One palette for the whole app: "before" is a muted blue-grey, "after" orange, gains green, losses red.
COLORS = {
    "before": "#6f8fb3", "after": "#e07b24", "target": "#1f2933", "gain": "#2f9e5b", "loss": "#c8453b",
    "band_outer": "#c9daf0", "band_inner": "#86aedb", "median": "#1f4e89", "marker": "#c8453b",
    "start": "#1f2933", "text": "#1f2933",
}
TICK_FONT = QFont()
TICK_FONT.setPointSize(9)


class FormatAxis(pg.AxisItem):
    """An axis whose tick labels come from ``formatter`` (money, percent) instead of SI prefixes."""

    def __init__(self, orientation: str, formatter: Callable[[float], str], **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self._formatter = formatter
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):
        return [self._formatter(v * scale) for v in values]


def style_axes(plot: pg.PlotItem, title: str = "") -> None:
    """Dark ticks and text on light axis lines; no auto-range button or context menu."""
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen("#9aa5b1"))
        axis.setTextPen(pg.mkPen(COLORS["text"]))
        axis.setStyle(tickFont=TICK_FONT, tickTextOffset=4)
    if title:
        plot.setTitle(title, color=COLORS["text"], size="11pt")
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)


def style_plot(widget: pg.PlotWidget, *, title: str = "", left: str = "", bottom: str = "") -> pg.PlotItem:
    """White background, antialiasing, dark axes and text, a light horizontal grid, fixed view."""
    widget.setBackground("w")
    widget.setAntialiasing(True)
    plot = widget.getPlotItem()
    style_axes(plot, title)
    for side, text in (("left", left), ("bottom", bottom)):
        if text:
            plot.setLabel(side, text, color=COLORS["text"], **{"font-size": "9pt"})
    plot.showGrid(x=False, y=True, alpha=0.25)
    return plot


def _legend(plot: pg.PlotItem, offset: tuple[int, int] = (10, 10)) -> pg.LegendItem:
    return plot.addLegend(offset=offset, labelTextColor=COLORS["text"], labelTextSize="9pt",
                          brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#c5ccd3"))


def _zero_line(plot: pg.PlotItem, pos: float = 0.0, angle: int = 0) -> None:
    plot.addItem(pg.InfiniteLine(pos=pos, angle=angle, pen=pg.mkPen("#52606d", width=1)))


class CategoryTicks:
    """Category labels on a bottom or left axis, elided to the room each category gets.

    ``labels`` keeps the full names; the axis shows them shortened with "…" when the chart
    is too narrow, recomputed whenever the view is resized. With more than ``max_labels``
    categories only every k-th is labelled (a hundred overlapping names are unreadable, and
    thousands would cost the GUI thread seconds to lay out).
    """

    def __init__(self, plot: pg.PlotItem, axis: str, max_px: int | None = None, max_labels: int = 60) -> None:
        self._plot, self._axis, self._max_px = plot, plot.getAxis(axis), max_px
        self._max_labels = max_labels
        self._metrics = QFontMetrics(TICK_FONT)
        self.labels: list[str] = []
        plot.getViewBox().sigResized.connect(self.refresh)

    def set(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.refresh()

    def refresh(self, *_args) -> None:
        view = self._plot.getViewBox()
        n = len(self.labels)
        stride = -(-n // self._max_labels) if n > self._max_labels else 1
        if self._max_px is not None:
            room = self._max_px
        else:  # a bottom axis: the view's width shared by the labelled categories, less a small gap
            room = int(view.width() * stride / max(n, 1)) - 4 if view.width() > 0 else 10**6
        shown = [(float(i), self._metrics.elidedText(self.labels[i], Qt.TextElideMode.ElideRight, max(room, 12)))
                 for i in range(0, n, stride)]
        self._axis.setTicks([shown, []])


def capped_title(title: str, capped: CappedCategories) -> str:
    """``title`` with, when only the largest categories are drawn, how many of how many."""
    if not capped.n_other:
        return title
    return f"{title} (largest {len(capped.labels) - 1} of {capped.n_total:,})"


class CategoryBarChart(pg.PlotWidget):
    """One bar per category, labelled on the category axis (x, or y when ``horizontal``).

    :attr:`values` returns the bar lengths as plotted; ``horizontal`` suits long labels
    (scenario names), the first category on top. More than :data:`BAR_LIMIT` + 1 categories
    draw the largest and one "other (n)" bar with the sum of the rest, and the title says so.
    """

    def __init__(self, *, title: str = "", value_format: Callable[[float], str] = pct_tick,
                 horizontal: bool = False, parent=None) -> None:
        value_axis = "bottom" if horizontal else "left"
        super().__init__(parent=parent, axisItems={value_axis: FormatAxis(value_axis, value_format)})
        self.horizontal, self.title = horizontal, title
        self.plot_item = style_plot(self, title=title)
        self.plot_item.showGrid(x=horizontal, y=not horizontal, alpha=0.25)
        if horizontal:
            self.plot_item.invertY(True)
            self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.62, brush=COLORS["before"], pen=None)
        else:
            self.bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=COLORS["before"], pen=None)
        self.plot_item.addItem(self.bars)
        self.ticks = CategoryTicks(self.plot_item, "left" if horizontal else "bottom", 260 if horizontal else None)
        self.shown = top_categories([], [[]])
        _zero_line(self.plot_item, angle=90 if horizontal else 0)

    def set_highlight(self, index: int | None) -> None:
        """Outline the bar of category ``index`` (the "other" bar if it was summed there); None outlines none."""
        where = np.flatnonzero(self.shown.index == index) if index is not None else []
        bar = int(where[0]) if len(where) else (len(self.shown.index) - 1 if index is not None and self.shown.n_other else None)
        pens = [pg.mkPen(COLORS["target"], width=2) if i == bar else pg.mkPen(None) for i in range(len(self.values))]
        # An empty list trips pyqtgraph 0.14's BarGraphItem; None means "one shared pen" (none).
        self.bars.setOpts(pens=pens or None)

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.bars.opts["width" if self.horizontal else "height"], dtype=float)

    def set_data(self, labels: Sequence[str], values: Sequence[float],
                 colors: Sequence[str] | None = None) -> None:
        """Show ``values[i]`` for ``labels[i]``; ``colors`` per bar, else the "before" colour."""
        self.shown = shown = top_categories(labels, [values])
        v = shown.series[0]
        pos = np.arange(len(v), dtype=float)
        colors = colors or [COLORS["before"]] * len(labels)
        brushes = [pg.mkBrush(colors[i] if i >= 0 else COLORS["before"]) for i in shown.index]
        span = (-0.6, max(len(v) - 0.4, 0.6))
        # Pens are reset with the data so a highlight never outlives the bars it was made for.
        if self.horizontal:
            self.bars.setOpts(x0=np.zeros_like(v), y=pos, width=v, brushes=brushes, pens=None)
            self.plot_item.setYRange(*span, padding=0)
        else:
            self.bars.setOpts(x=pos, height=v, brushes=brushes, pens=None)
            self.plot_item.setXRange(*span, padding=0)
        self.plot_item.enableAutoRange(axis="x" if self.horizontal else "y")
        if self.title:
            self.plot_item.setTitle(capped_title(self.title, shown), color=COLORS["text"], size="11pt")
        self.ticks.set(shown.labels)


class GroupedBarChart(pg.PlotWidget):
    """Before/after bars side by side per category, with the target as a black tick across both."""

    def __init__(self, *, title: str = "", before_name: str = "Before", after_name: str = "After",
                 target_name: str | None = "Target", parent=None) -> None:
        """``target_name`` None leaves the target ticks out of the legend (a chart without targets)."""
        super().__init__(parent=parent, axisItems={"left": FormatAxis("left", pct_tick)})
        self.title = title
        self.plot_item = style_plot(self, title=title)
        legend = _legend(self.plot_item, offset=(-10, 6))
        legend.setColumnCount(3)
        self.before_bars = pg.BarGraphItem(x=[], height=[], width=0.36, brush=COLORS["before"], pen=None)
        self.after_bars = pg.BarGraphItem(x=[], height=[], width=0.36, brush=COLORS["after"], pen=None)
        # Pairs of points joined pairwise: one short horizontal segment per category.
        self.target_marks = pg.PlotDataItem([], [], connect="pairs", antialias=True,
                                            pen=pg.mkPen(COLORS["target"], width=2.5))
        for item, name in ((self.before_bars, before_name), (self.after_bars, after_name),
                           (self.target_marks, target_name)):
            self.plot_item.addItem(item)
            if name:
                legend.addItem(item, name)
        _zero_line(self.plot_item)
        self.ticks = CategoryTicks(self.plot_item, "bottom")
        self.shown = top_categories([], [[], []])

    def set_data(self, labels: Sequence[str], before: Sequence[float], after: Sequence[float],
                 target: Sequence[float | None] | None = None) -> None:
        """``target[i]`` None (e.g. cash, which has no target) draws no tick for that category.

        More than :data:`BAR_LIMIT` + 1 categories draw the largest (by before or after) and
        one "other (n)" group summing the rest, targets included; the title says so.
        """
        t = np.array([np.nan if v is None else v for v in target], dtype=float) if target else None
        series = [before, after] + ([np.nan_to_num(t)] if t is not None else [])
        self.shown = shown = top_categories(labels, series)
        b, a = shown.series[0], shown.series[1]
        x = np.arange(len(shown.labels), dtype=float)
        self.before_bars.setOpts(x=x - 0.19, height=b)
        self.after_bars.setOpts(x=x + 0.19, height=a)
        ty = np.empty(0)
        if t is not None:
            defined = ~np.isnan(t)
            kept = shown.index[shown.index >= 0]
            has = defined[kept]
            if shown.n_other:  # the "other" group has a target tick if any of its categories has one
                rest = np.ones(len(t), dtype=bool)
                rest[kept] = False
                has = np.append(has, defined[rest].any())
            ty = np.repeat(shown.series[2][has], 2)
            tx = np.column_stack([x[has] - 0.42, x[has] + 0.42]).ravel()
            self.target_marks.setData(tx, ty)
        else:
            self.target_marks.setData(np.empty(0), np.empty(0))
        self.ticks.set(shown.labels)
        if self.title:
            self.plot_item.setTitle(capped_title(self.title, shown), color=COLORS["text"], size="11pt")
        self.plot_item.setXRange(-0.6, max(len(shown.labels) - 0.4, 0.6), padding=0)
        # Head room above the tallest bar keeps the one-line legend clear of the data.
        heights = np.concatenate([b, a, ty, [0.0]])
        low, high = min(heights.min(), 0.0), max(heights.max(), 1e-9) * 1.22
        self.plot_item.setYRange(low - 0.03 * (high - low), high, padding=0)


class DateLineChart(pg.PlotWidget):
    """Named curves over dates; ``curves[key].getOriginalDataset()`` gives back (seconds, values)
    (``getData()`` is what is drawn: long series downsampled to the pixels, peaks kept)."""

    def __init__(self, series: Sequence[tuple[str, str, str]], *, title: str = "",
                 value_format: Callable[[float], str] = pct_tick, invert_y: bool = False,
                 fill: bool = False, baseline: float = 0.0, legend: bool = True, parent=None) -> None:
        """``series``: (key, legend name, colour) per curve, created here once; a thin line marks ``baseline``."""
        super().__init__(parent=parent, axisItems={"bottom": pg.DateAxisItem(utcOffset=0),
                                                   "left": FormatAxis("left", value_format)})
        self.plot_item = style_plot(self, title=title)
        self.plot_item.setMouseEnabled(x=True, y=False)
        self.plot_item.invertY(invert_y)
        key_box = _legend(self.plot_item, offset=(10, -10) if invert_y else (10, 10)) if legend else None
        # Twenty years of daily points are ~5,000 per curve on a few hundred pixels: drawing each
        # one (antialiased, filled) cost the GUI thread ~70 ms per update. Peak downsampling to
        # the visible range keeps every high and low that can be seen. (Set on the plot: it
        # imposes its own mode on every curve added to it.)
        self.plot_item.setDownsampling(auto=True, mode="peak")
        self.plot_item.setClipToView(True)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, name, color in series:
            fill_brush = pg.mkBrush(*pg.mkColor(color).getRgb()[:3], 50)
            curve = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=1.6), antialias=True,
                                    fillLevel=baseline if fill else None, fillBrush=fill_brush if fill else None)
            self.plot_item.addItem(curve)
            curve.opts["autoDownsampleFactor"] = 1.0  # one min/max pair per pixel (pyqtgraph's default: 5)
            if key_box is not None:
                key_box.addItem(curve, name)
            self.curves[key] = curve
        _zero_line(self.plot_item, baseline)
        self._baseline = baseline

    def set_series(self, key: str, dates: Sequence[dt.date] | None, values: Sequence[float] | None) -> None:
        """Replace one curve; ``dates`` None (a history without dates) plots against the period index."""
        if not values:
            self.set_arrays(key, None)
            return
        x = dates_to_seconds(dates) if dates else np.arange(len(values), dtype=float)
        self.set_arrays(key, (x, np.asarray(values, dtype=float)))

    def set_arrays(self, key: str, xy: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Replace one curve with ready arrays (x in POSIX seconds or period index); None hides it."""
        self.set_curves({key: xy})

    def set_curves(self, curves: dict[str, tuple[np.ndarray, np.ndarray] | None]) -> None:
        """Replace several curves at once, then fit the view to every shown curve in one step.

        The range is set here rather than by pyqtgraph's auto-range, which settles it while
        painting and so draws every update twice."""
        for key, xy in curves.items():
            curve = self.curves[key]
            if xy is None:
                curve.setData([], [])
                curve.hide()
            else:
                curve.setData(*xy)
                curve.show()
        shown = [c.getOriginalDataset() for c in self.curves.values() if c.isVisible()]
        shown = [(x, y) for x, y in shown if x is not None and len(x)]
        if not shown:
            self.plot_item.enableAutoRange()
            return
        ys = [y[np.isfinite(y)] for _, y in shown]
        ys = [y for y in ys if y.size] or [np.zeros(1)]
        y_lo, y_hi = min(float(y.min()) for y in ys), max(float(y.max()) for y in ys)
        y_lo, y_hi = min(y_lo, self._baseline), max(y_hi, self._baseline)
        self.plot_item.disableAutoRange()
        self.plot_item.setRange(xRange=(min(float(x[0]) for x, _ in shown), max(float(x[-1]) for x, _ in shown)),
                                yRange=(y_lo, y_hi if y_hi > y_lo else y_lo + 1e-9), padding=0.02)


class FanChart(pg.PlotWidget):
    """Percentile bands over time: outer and inner bands filled, the median as a line."""

    def __init__(self, *, title: str = "", parent=None) -> None:
        super().__init__(parent=parent, axisItems={"left": FormatAxis("left", money_short)})
        self.plot_item = style_plot(self, title=title, bottom="Years from today")
        self._legend = _legend(self.plot_item)
        self.curves: list[pg.PlotDataItem] = []
        self._fills: list[pg.FillBetweenItem] = []
        self._percentiles: list[float] | None = None
        self.start_line = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(COLORS["start"], width=1.2,
                                                                       style=Qt.PenStyle.DashLine))
        self.plot_item.addItem(self.start_line)

    def _build(self, percentiles: Sequence[float]) -> None:
        """Create the curves and fills for this set of percentiles (once, unless the set changes)."""
        for item in [*self._fills, *self.curves]:
            self.plot_item.removeItem(item)
        self._legend.clear()
        n = len(percentiles)
        median = n // 2 if n % 2 else None
        self.curves = [pg.PlotDataItem([], [], antialias=True, pen=pg.mkPen(COLORS["median"], width=2.2)
                                       if i == median else pg.mkPen(COLORS["band_inner"], width=0.8)) for i in range(n)]
        self._fills = []
        for i in range(n // 2):  # outer band first, lightest, drawn underneath
            color = COLORS["band_outer"] if i == 0 else COLORS["band_inner"]
            self._fills.append(pg.FillBetweenItem(self.curves[i], self.curves[n - 1 - i], brush=pg.mkBrush(color)))
            self._fills[-1].setZValue(-10 + i)
            self.plot_item.addItem(self._fills[-1])
            self._legend.addItem(pg.BarGraphItem(x=[0], height=[0], width=1, brush=color, pen=None),
                                 f"{ordinal(percentiles[i])}–{ordinal(percentiles[n - 1 - i])} percentile")
        for curve in self.curves:
            self.plot_item.addItem(curve)
        if median is not None:
            self._legend.addItem(self.curves[median], f"Median ({ordinal(percentiles[median])})")
        self._legend.addItem(pg.PlotDataItem([], [], pen=self.start_line.pen), "Starting value")
        self._percentiles = list(percentiles)

    def set_data(self, years: np.ndarray, percentiles: Sequence[float], bands: Sequence[Sequence[float]],
                 start_value: float) -> None:
        """``bands[i][t]`` is percentile ``percentiles[i]`` at time ``years[t]``."""
        if list(percentiles) != self._percentiles:
            self._build(percentiles)
        for curve, band in zip(self.curves, bands, strict=True):
            curve.setData(np.asarray(years, dtype=float), np.asarray(band, dtype=float))
        self.start_line.setPos(start_value)
        self.plot_item.enableAutoRange()


class HistogramChart(pg.PlotWidget):
    """Counts over bin edges, with labelled vertical markers (e.g. the 5th percentile, the start)."""

    def __init__(self, *, title: str = "", x_format: Callable[[float], str] = money_short,
                 x_label: str = "", parent=None) -> None:
        super().__init__(parent=parent, axisItems={"bottom": FormatAxis("bottom", x_format)})
        self.plot_item = style_plot(self, title=title, bottom=x_label, left="Paths")
        self.bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=COLORS["band_inner"],
                                    pen=pg.mkPen("w", width=0.5))
        self.plot_item.addItem(self.bars)
        self._legend = _legend(self.plot_item, offset=(-10, 10))
        self.markers: dict[str, pg.InfiniteLine] = {}
        self._samples: dict[str, pg.PlotDataItem] = {}

    def set_data(self, edges: Sequence[float], counts: Sequence[int]) -> None:
        e = np.asarray(edges, dtype=float)
        self.bars.setOpts(x0=e[:-1], x1=e[1:], height=np.asarray(counts, dtype=float))
        self.plot_item.enableAutoRange()

    def set_marker(self, key: str, x: float, label: str, color: str) -> None:
        """Place (or move) the dashed vertical marker ``key`` at ``x``, named ``label`` in the legend
        (not on the line: the 5th percentile and the start are often a few pixels apart)."""
        line = self.markers.get(key)
        if line is None:
            pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine)
            line = pg.InfiniteLine(angle=90, pen=pen)
            self.plot_item.addItem(line)
            self.markers[key] = line
            self._samples[key] = pg.PlotDataItem([], [], pen=pen)
            self._legend.addItem(self._samples[key], label)
        line.setPos(x)
        self._legend.getLabel(self._samples[key]).setText(label)
