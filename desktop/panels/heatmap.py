"""The correlation heatmap: one image (not one item per cell), a colour bar, numbers only when few.

A text item per cell costs the GUI thread about a millisecond to create and lay out, so a
60-asset matrix would block it for seconds and a 5,000-asset one for hours; the numbers are
written in only up to :data:`NUMBERS_MAX` assets (and only while the cells are large enough to
hold them). Every cell's value is always available on hover.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFontMetrics

from desktop.panels.charts import COLORS, TICK_FONT, CategoryTicks, style_axes
from desktop.panels.risk_view import correlation_array

__all__ = ["NUMBERS_MAX", "CorrelationHeatmap"]

#: Up to this many assets the cells carry their numbers; beyond, the colours and the hover do.
NUMBERS_MAX = 15


class CorrelationHeatmap(pg.GraphicsLayoutWidget):
    """A symmetric matrix in [-1, 1] as coloured cells, symbols on both axes, a colour bar.

    ``values`` holds the matrix shown (undefined -> NaN, its cell marked "—" on hover and in
    the numbers). ``_labels`` is a pool of at most ``NUMBERS_MAX``² text items, created once.
    """

    def __init__(self, *, title: str = "", parent=None) -> None:
        super().__init__(parent=parent)
        self.setBackground("w")
        self.setAntialiasing(True)
        self.plot_item = plot = self.addPlot()
        style_axes(plot, title)
        for name in ("left", "bottom"):
            # The last column's label may reach past the axis end; it must still be drawn.
            plot.getAxis(name).setStyle(tickLength=0, hideOverlappingLabels=False)
        plot.invertY(True)
        self.cmap = pg.ColorMap([0.0, 0.5, 1.0], [QColor("#2166ac"), QColor("#f7f7f7"), QColor("#b2182b")])
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=self.cmap, interactive=False, width=14,
                                        colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=plot)
        self.colorbar.axis.setTextPen(pg.mkPen(COLORS["text"]))
        self.colorbar.axis.setStyle(tickFont=TICK_FONT)
        self.row_ticks = CategoryTicks(plot, "left", max_px=100, max_labels=40)
        self.col_ticks = CategoryTicks(plot, "bottom", max_labels=12)  # side by side: less room than rows
        self.values, self.symbols = np.zeros((0, 0)), []
        self._labels: list[pg.TextItem] = []
        self._metrics = QFontMetrics(TICK_FONT)
        plot.getViewBox().sigResized.connect(self._fit_labels)
        self.scene().sigMouseMoved.connect(self._hover)

    @property
    def numbered(self) -> bool:
        """Whether the cells carry their numbers (few enough assets)."""
        return 0 < len(self.symbols) <= NUMBERS_MAX

    def set_data(self, symbols: Sequence[str], matrix: Sequence[Sequence[float | None]] | np.ndarray) -> None:
        """``matrix`` as the engine gives it (nested lists, None undefined) or already as a
        float array with NaN (prepared off the GUI thread for large portfolios)."""
        n = len(symbols)
        values = matrix if isinstance(matrix, np.ndarray) else correlation_array(matrix)
        self.values, self.symbols = values.reshape(n, n), list(symbols)
        self.image.setImage(self.values, levels=(-1.0, 1.0), autoLevels=False)
        self.image.setRect(QRectF(-0.5, -0.5, n, n))
        self.row_ticks.set(symbols)
        self.col_ticks.set(symbols)
        if self.numbered:
            self._write_numbers(n)
        self.plot_item.setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5), padding=0)
        self._fit_labels()

    def _write_numbers(self, n: int) -> None:
        while len(self._labels) < n * n:  # pooled: a new matrix reuses the text items
            self._labels.append(pg.TextItem(anchor=(0.5, 0.5)))
            self.plot_item.addItem(self._labels[-1])
        for k, label in enumerate(self._labels[: n * n]):
            i, j = divmod(k, n)
            label.setText(self.cell_text(i, j), color="w" if abs(self.values[i, j]) > 0.6 else COLORS["text"])
            label.setPos(j, i)

    def cell_text(self, i: int, j: int) -> str:
        v = self.values[i, j]
        if np.isnan(v):
            return "—"
        text = f"{v:.2f}"
        return text.lstrip("-") if float(text) == 0 else text.replace("-", "\u2212")

    def _fit_labels(self, *_args) -> None:
        """Show the numbers only if a cell can hold "−0.00" (else the colours carry it)."""
        n = len(self.symbols)
        view = self.plot_item.getViewBox()
        fits = self.numbered and (view.width() <= 0 or (
            view.width() / n >= self._metrics.horizontalAdvance("\u22120.00") + 4
            and view.height() / n >= self._metrics.height()))
        for k, label in enumerate(self._labels):
            label.setVisible(fits and k < n * n)

    def _hover(self, pos) -> None:
        view = self.plot_item.getViewBox()
        point = view.mapSceneToView(pos)
        i, j, n = round(point.y()), round(point.x()), len(self.symbols)
        inside = view.sceneBoundingRect().contains(pos) and 0 <= i < n and 0 <= j < n
        self.setToolTip(f"{self.symbols[i]} × {self.symbols[j]}: {self.cell_text(i, j)}" if inside else "")
