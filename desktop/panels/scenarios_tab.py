"""The Scenarios tab: historical crises replayed on the current holdings.

A table of every scenario, a bar chart of the portfolio's return in each, the value path of
the selected one, and which holdings were replayed on a proxy or left uncovered.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.charts import COLORS, CategoryBarChart, DateLineChart
from desktop.panels.formatting import BANNER_STYLES, pct, short_list, signed_pct
from desktop.panels.table_models import ScenarioTableModel, result_table
from engine.schemas.results import ScenarioResult

__all__ = ["ScenariosTab", "coverage_html"]


def coverage_html(s: ScenarioResult) -> str:
    """Which series each holding was replayed on, in words; proxied and uncovered stand out."""
    own = [a.symbol for a in s.assets if a.covered and not a.proxied]
    lines = [f"<b>{s.name}</b> &nbsp; {s.start:%Y-%m-%d} → {s.end:%Y-%m-%d}: portfolio "
             f"{signed_pct(s.portfolio_return)}, worst fall inside the window {pct(s.max_drawdown)}"]
    if own:
        lines.append(f"Own history: {short_list(own)}")
    by_series: dict[str, list[str]] = {}
    for a in s.assets:
        if a.proxied and a.covered:
            by_series.setdefault(a.series or "?", []).append(a.symbol)
    proxied = [f"{short_list(symbols)} on {series}" for series, symbols in by_series.items()]
    if proxied or s.proxied:
        lines.append("<span style='color:#7a4b00'>Replayed on a proxy: "
                     f"{'; '.join(proxied) if proxied else short_list(s.proxied)}</span>")
    if s.uncovered:
        lines.append(f"<span style='color:#8a1c12'><b>Uncovered</b> (no data, no proxy; left out of the figures): "
                     f"{short_list(s.uncovered)}</span>")
    return "<br>".join(lines)


class ScenariosTab(QWidget):
    """Show a list of :class:`ScenarioResult`; selecting a row shows its path and coverage."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._results: list[ScenarioResult] = []
        self.model = ScenarioTableModel(self)
        self.table = self._make_table()
        self.bar_chart = CategoryBarChart(title="Portfolio return in each scenario", horizontal=True)
        self.path_chart = DateLineChart([("path", "Portfolio value (start = 100)", COLORS["median"])],
                                        title="Selected scenario", value_format=lambda v: f"{v * 100:.0f}",
                                        baseline=1.0, legend=False)
        self.path_chart.plot_item.setLabel("left", "Value (start = 100)", color=COLORS["text"],
                                           **{"font-size": "9pt"})
        self.coverage_label = QLabel("Select a scenario to see its path and the data it used.")
        self.coverage_label.setTextFormat(Qt.TextFormat.RichText)
        self.coverage_label.setWordWrap(True)
        self.coverage_label.setStyleSheet("color:#1f2933; padding: 4px 2px;")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(BANNER_STYLES["error"])
        self.error_label.hide()
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self._layout()

    def _make_table(self) -> QTableView:
        table, self.proxy = result_table(self.model, self, single_selection=True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return table

    def _layout(self) -> None:
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.path_chart, 1)
        right_layout.addWidget(self.coverage_label)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.bar_chart)
        bottom.addWidget(right)
        bottom.setSizes([560, 660])
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(bottom)
        splitter.setSizes([260, 440])
        for s in (bottom, splitter):
            s.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(self.error_label)
        layout.addWidget(splitter, 1)

    # --- the interface the main window uses ---------------------------------------------------
    def show_results(self, results: list[ScenarioResult]) -> None:
        self.error_label.hide()
        selected = self.selected_result()
        self._results = list(results)
        self.model.set_rows(self._results)
        self.bar_chart.set_data([r.name for r in self._results], [r.portfolio_return for r in self._results],
                                [COLORS["loss"] if r.portfolio_return < 0 else COLORS["gain"] for r in self._results])
        ids = [r.id for r in self._results]
        # Keep the advisor's selection; the first time, show the scenario that hurts this book most.
        worst = min(range(len(ids)), key=lambda i: self._results[i].portfolio_return) if ids else 0
        keep = ids.index(selected.id) if selected is not None and selected.id in ids else worst
        if self._results:
            self.select_row(keep)
        else:
            self._show_selected(None)

    def show_error(self, message: str) -> None:
        self.error_label.setText(f"<b>Could not replay the scenarios.</b> {message}")
        self.error_label.show()

    def set_busy(self, busy: bool) -> None:
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)

    # --- selection --------------------------------------------------------------------------------
    def select_row(self, source_row: int) -> None:
        """Select the scenario at ``source_row`` of the results (whatever the table's sort)."""
        index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        self.table.selectRow(index.row())

    def selected_result(self) -> ScenarioResult | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or not self._results:
            return None
        return self.model.row_object(self.proxy.mapToSource(rows[0]).row())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_selected(self.selected_result())

    def _show_selected(self, result: ScenarioResult | None) -> None:
        if result is None:
            self.path_chart.set_series("path", None, None)
            self.bar_chart.set_highlight(None)
            self.coverage_label.setText("No scenario selected.")
            return
        self.path_chart.set_series("path", result.path.dates, result.path.values)
        self.bar_chart.set_highlight(self._results.index(result))
        self.path_chart.plot_item.setTitle(f"{result.name}: value through the window", color=COLORS["text"],
                                           size="11pt")
        self.coverage_label.setText(coverage_html(result))
        self.coverage_label.setToolTip("\n".join(result.warnings[:30]) + (f"\n… and {len(result.warnings) - 30:,} more" if len(result.warnings) > 30 else ""))
