"""The Risk tab: METRICS.md cards before -> after, growth and underwater charts, risk
contributions, the correlation heatmap, and the data window with its warnings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from desktop.panels.charts import COLORS, DateLineChart, GroupedBarChart
from desktop.panels.formatting import BANNER_STYLES, bullets, date_text
from desktop.panels.heatmap import CorrelationHeatmap
from desktop.panels.metric_cards import MetricCardGrid
from desktop.panels.risk_view import RiskView, contribution_bars, prepare_risk_view
from engine.schemas.results import RiskReport

__all__ = ["RiskTab", "contribution_bars", "data_notes"]

_SERIES = (("before", "Current weights", COLORS["before"]), ("after", "Post-trade weights", COLORS["after"]))


def data_notes(report: RiskReport) -> list[str]:
    """The data-quality notes an advisor must see: engine warnings, proxies, uncovered holdings."""
    notes = list(report.warnings)
    notes += [f"{holding} has no history of its own: {series} is used instead."
              for holding, series in report.proxies.items()]
    if report.uncovered:
        notes.append(f"No history and no proxy for {', '.join(report.uncovered)}: treated as cash (0 % return).")
    return notes


def _benchmark_text(benchmark: str | None) -> str:
    if benchmark is None:
        return "no benchmark"
    if benchmark == "targets":
        return "benchmark <b>the target weights</b>"
    return f"benchmark <b>{benchmark}</b>"


class RiskTab(QWidget):
    """Show a :class:`RiskReport`; the "after" side appears once there are post-trade weights."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_label = QLabel("No risk analysis yet.")
        self.window_label.setTextFormat(Qt.TextFormat.RichText)
        self.window_label.setStyleSheet("font-size: 10.5pt; color: #1f2933;")
        self.window_label.setWordWrap(True)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet(BANNER_STYLES["bound"])
        self.notes_label.hide()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(BANNER_STYLES["error"])
        self.error_label.hide()
        self.cards = MetricCardGrid(columns=6)
        self.cumulative_chart = DateLineChart(_SERIES, title="Cumulative return")
        self.drawdown_chart = DateLineChart(_SERIES, title="Drawdown (loss from the previous peak)",
                                            invert_y=True, fill=True, legend=False)
        self.drawdown_chart.plot_item.setXLink(self.cumulative_chart.plot_item)
        self.contribution_chart = GroupedBarChart(title="Share of portfolio volatility",
                                                  before_name="Current", after_name="Post-trade", target_name=None)
        self.heatmap = CorrelationHeatmap(title="Correlation of returns")
        self._layout()

    def _layout(self) -> None:
        charts = QGridLayout()
        charts.setSpacing(6)
        charts.addWidget(self.cumulative_chart, 0, 0)
        charts.addWidget(self.drawdown_chart, 1, 0)
        charts.addWidget(self.contribution_chart, 0, 1)
        charts.addWidget(self.heatmap, 1, 1)
        # Equal columns: the heatmap needs the width for nine or ten symbols with their numbers.
        charts.setColumnStretch(0, 1)
        charts.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addWidget(self.window_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.notes_label)
        layout.addWidget(self.cards)
        layout.addLayout(charts, 1)

    # --- the interface the main window uses ---------------------------------------------------
    def show_report(self, report: RiskReport) -> None:
        self.show_view(prepare_risk_view(report))

    def show_view(self, view: RiskView) -> None:
        """Show a report whose chart arrays were prepared off the GUI thread (the controller's)."""
        report = view.report
        self.error_label.hide()
        w = report.window
        bench = " &nbsp;·&nbsp; " + _benchmark_text(report.benchmark)
        self.window_label.setText(
            f"Data window <b>{date_text(w.start)} → {date_text(w.end)}</b> &nbsp;·&nbsp; "
            f"{w.n_periods:,} {w.frequency} returns (P = {w.periods_per_year}){bench}"
            "<br><span style='color:#52606d'>Weights held constant over the window; "
            "hover a card for its definition.</span>")
        notes = data_notes(report)
        self.notes_label.setText("<b>Data quality:</b><br>" + bullets(notes))
        self.notes_label.setVisible(bool(notes))
        self.cards.set_metrics(report.before.metrics, report.after.metrics if report.after else None,
                               w, report.benchmark)
        self.cumulative_chart.set_curves(view.cumulative)
        self.drawdown_chart.set_curves(view.drawdown)
        symbols, before, after = view.contributions
        self.contribution_chart.set_data(symbols, before, after)
        self.contribution_chart.after_bars.setVisible(report.after is not None)
        self.heatmap.set_data(report.correlation.symbols, view.correlation)

    def show_error(self, message: str) -> None:
        self.error_label.setText(f"<b>Could not compute the risk figures.</b> {message}")
        self.error_label.show()

    def set_busy(self, busy: bool) -> None:
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)
