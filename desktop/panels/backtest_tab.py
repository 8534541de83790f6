"""The Backtest tab: rebalancing policies replayed on the portfolio's real history, with costs.

"Run backtest" gathers the portfolio and policy as they stand and starts :func:`job_backtest`
(``engine.service.backtest`` with the AI-targets policy) on a pool thread with progress and
cancel; the GUI thread only draws the :class:`BacktestResult`: one equity curve per policy on
a date axis (linear or log scale) and a statistics table per policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controller import error_message
from desktop.panels.charts import FormatAxis, dates_to_seconds, style_plot
from desktop.panels.formatting import BANNER_STYLES, DASH, date_text, money, money_short, pct, signed_pct
from desktop.panels.table_models import result_table
from desktop.workers import SingleJob
from engine.schemas import Portfolio, RebalancePolicy
from engine.schemas.backtest import BacktestPolicyResult, BacktestResult

__all__ = ["STAT_COLUMNS", "BacktestStatsModel", "BacktestTab", "EquityChart", "build_backtest_request",
           "job_backtest", "policy_color"]

_Index = QModelIndex | QPersistentModelIndex
# Calendar policies in blues and greens, the bands purple, buy and hold grey, the AI targets orange.
_KIND_COLORS = {"buy_and_hold": "#7b8794", "threshold": "#8e5fb8", "targets": "#e07b24"}
_CALENDAR_COLORS = ("#1f4e89", "#2f9e5b", "#5fa8d3", "#9bbb3b")


# --- jobs and requests --------------------------------------------------------------------------
def build_backtest_request(portfolio: Portfolio, policy: RebalancePolicy | None) -> dict[str, Any]:
    """The ``service.backtest`` request: the policy's bands, costs, lots and limits, but no cash
    flow (a backtest replays the book without deposits or withdrawals)."""
    request: dict[str, Any] = {"portfolio": portfolio.model_dump()}
    if policy is not None:
        request["policy"] = policy.model_dump() | {"cash_flow": 0.0}
    return request


def job_backtest(request: Mapping[str, Any], *, progress: Callable[[float], None],
                 cancel: Callable[[], bool]) -> BacktestResult:
    """Run on a pool thread: the default policies and the AI targets; ``Cancelled`` when asked."""
    from engine import service

    return service.backtest(request, ai_targets=True, progress=progress, cancel=cancel)


def policy_color(policy: BacktestPolicyResult, index: int) -> str:
    """One colour per policy, stable across runs: by kind, calendar policies by position."""
    return _KIND_COLORS.get(policy.kind, _CALENDAR_COLORS[index % len(_CALENDAR_COLORS)])


# --- the equity chart ------------------------------------------------------------------------------
class _MoneyAxis(FormatAxis):
    """Money ticks that stay round numbers on a log scale too (pyqtgraph's log ticks are powers of 10)."""

    def tickValues(self, minVal, maxVal, size):
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        self.logMode = False  # round ticks in money, then placed at their logarithm
        try:
            levels = super().tickValues(10.0 ** minVal, 10.0 ** maxVal, size)
        finally:
            self.logMode = True
        return [(spacing, [float(np.log10(v)) for v in values if v > 0]) for spacing, values in levels]

    def tickStrings(self, values, scale, spacing):
        if self.logMode:
            return [money_short(10.0 ** v) for v in values]
        return super().tickStrings(values, scale, spacing)


class EquityChart(pg.PlotWidget):
    """One equity curve per policy over dates; ``curves[name]`` keeps the plotted data.

    Curves are created the first time a policy name appears and updated with ``setData``
    afterwards; a policy absent from a later result is hidden, not deleted.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, axisItems={"bottom": pg.DateAxisItem(utcOffset=0),
                                                   "left": _MoneyAxis("left", money_short)})
        self.plot_item = style_plot(self, title="Portfolio value by rebalancing policy")
        self.plot_item.setMouseEnabled(x=True, y=False)
        self.legend = self.plot_item.addLegend(offset=(10, 10), labelTextColor="#1f2933", labelTextSize="9pt",
                                               brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#c5ccd3"))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._colors: dict[str, str] = {}
        self.highlighted: str | None = None

    def set_policies(self, policies: Sequence[BacktestPolicyResult]) -> None:
        for i, p in enumerate(policies):
            curve = self.curves.get(p.name)
            if curve is None:
                curve = pg.PlotDataItem([], [], antialias=True)
                self.plot_item.addItem(curve)
                self.legend.addItem(curve, p.name)
                self.curves[p.name] = curve
            self._colors[p.name] = policy_color(p, i)
            x = dates_to_seconds(p.equity.dates) if p.equity.dates else np.arange(len(p.equity.values), dtype=float)
            curve.setData(x, np.asarray(p.equity.values, dtype=float))
            curve.show()
        shown = {p.name for p in policies}
        for name, curve in self.curves.items():
            if name not in shown:
                curve.setData([], [])
                curve.hide()
        self.highlight(self.highlighted)
        self.plot_item.enableAutoRange()

    def highlight(self, name: str | None) -> None:
        """Draw policy ``name`` thicker (the row selected in the table); None: all alike."""
        self.highlighted = name
        for key, curve in self.curves.items():
            width = 3.2 if key == name else 1.6
            style = Qt.PenStyle.DashLine if key == "Buy and hold" else Qt.PenStyle.SolidLine
            curve.setPen(pg.mkPen(self._colors.get(key, "#52606d"), width=width, style=style))
            curve.setZValue(10 if key == name else 0)

    def set_log_scale(self, on: bool) -> None:
        self.plot_item.setLogMode(x=False, y=on)
        self.plot_item.enableAutoRange()

    def is_log_scale(self) -> bool:
        return bool(self.plot_item.getAxis("left").logMode)


# --- the statistics table ---------------------------------------------------------------------------
def _rebalances_text(p: BacktestPolicyResult) -> str:
    return f"{p.n_rebalances} of {p.n_decisions}" if p.n_decisions else str(p.n_rebalances)


# (header, header tooltip, raw, text)
STAT_COLUMNS: tuple[tuple[str, str, Callable[[BacktestPolicyResult], Any], Callable[[BacktestPolicyResult], str]], ...] = (
    ("Policy", "The rebalancing rule replayed.", lambda p: p.name, lambda p: p.name),
    ("End value", "Holdings plus cash at the end of the window, after costs.", lambda p: p.end_value,
     lambda p: money(p.end_value)),
    ("Total return", "End value / start value − 1.", lambda p: p.total_return, lambda p: signed_pct(p.total_return)),
    ("CAGR", "Compound annual growth rate: prod(1 + r) ^ (P / T) − 1.", lambda p: p.cagr, lambda p: signed_pct(p.cagr, 2)),
    ("Volatility", "Annualised standard deviation of the period returns: std(r, ddof=1) × √P.",
     lambda p: p.volatility, lambda p: pct(p.volatility, 2)),
    ("Max drawdown", "Largest fall from a previous peak (a positive loss).", lambda p: p.max_drawdown,
     lambda p: pct(p.max_drawdown)),
    ("Turnover a year", "One-way turnover (buys / value) summed over the rebalances, per year.",
     lambda p: p.annualised_turnover, lambda p: pct(p.annualised_turnover)),
    ("Total turnover", "One-way turnover summed over every rebalance of the window.", lambda p: p.total_turnover,
     lambda p: pct(p.total_turnover)),
    ("Costs", "Transaction costs paid over the window (the rebalancer's cost model).", lambda p: p.total_costs,
     lambda p: money(p.total_costs)),
    ("Rebalances", "Decision dates on which something traded, of the dates the rule was consulted.",
     lambda p: p.n_rebalances, _rebalances_text),
)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class BacktestStatsModel(QAbstractTableModel):
    """One row per policy; ``Qt.UserRole`` is the raw value, the decoration its curve's colour."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.policies: list[BacktestPolicyResult] = []
        self._colors: list[str] = []

    def set_policies(self, policies: Sequence[BacktestPolicyResult]) -> None:
        self.beginResetModel()
        self.policies = list(policies)
        self._colors = [policy_color(p, i) for i, p in enumerate(self.policies)]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.policies)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(STAT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(STAT_COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return STAT_COLUMNS[section][0]
        return STAT_COLUMNS[section][1] if role == Qt.ItemDataRole.ToolTipRole else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.policies):
            return None
        p, (header, _tip, raw, text) = self.policies[index.row()], STAT_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text(p) if raw(p) is not None else DASH
        if role == Qt.ItemDataRole.UserRole:
            return raw(p)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _LEFT if header == "Policy" else _RIGHT
        if role == Qt.ItemDataRole.DecorationRole and header == "Policy":
            return QColor(self._colors[index.row()])
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(p)
        return None

    @staticmethod
    def _tooltip(p: BacktestPolicyResult) -> str:
        lines = [f"{p.name}: {p.n_trades} trades on {p.n_rebalances} of {p.n_decisions} decision dates."]
        if p.kind == "targets":
            lines.append(f"{p.n_target_fallbacks} decisions kept the strategic targets (too little history "
                         "or confidence for the optimiser).")
        lines += [f"• {w}" for w in p.warnings]
        return "\n".join(lines)


# --- the tab ------------------------------------------------------------------------------------------
def _label(style: str = "") -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setStyleSheet(style)
    return label


class BacktestTab(QWidget):
    """Run, cancel and show a backtest of the portfolio in ``model``.

    Parameters
    ----------
    model
        The holdings model (its ``portfolio()`` is read when a run starts; a change afterwards
        marks the result on screen as computed on the previous holdings).
    policy
        Returns the rebalancing policy as it stands (bands, costs, lots, limits); None uses
        the engine's default policy.
    """

    resultReady = Signal(object)  # BacktestResult now on screen
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, model: Any, policy: Callable[[], RebalancePolicy] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model, self._policy = model, policy
        self.job = SingleJob(self)
        self.job.ended.connect(lambda: self._set_busy(False))
        self.job.progress.connect(self.set_progress)
        self.job.returned.connect(self.show_result)
        self.job.errored.connect(self._errored)
        self._basis: Portfolio | None = None
        self.result: BacktestResult | None = None
        self.stats_model = BacktestStatsModel(self)
        self._build()
        self._layout()
        model.portfolioChanged.connect(self._note_stale)

    def _build(self) -> None:
        self.run_button = QPushButton("Run backtest")
        self.run_button.setToolTip("Replay buy and hold, calendar (monthly, quarterly, annual), threshold bands and "
                                   "the AI targets on the holdings' real history, with the policy's costs.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p %")
        self.progress.setMaximumWidth(200)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Equal distances for equal percentage changes: compares growth over long windows.")
        self.log_check.toggled.connect(lambda on: self.chart.set_log_scale(on))
        self.info_label = _label("color:#1f2933; font-size:10pt;")
        self.info_label.setText("No backtest yet: press <b>Run backtest</b>.")
        self.message_label, self.warnings_label = _label(), _label(BANNER_STYLES["bound"])
        self.message_label.hide()
        self.warnings_label.hide()
        self.chart = EquityChart()
        self.table = self._make_table()

    def _make_table(self) -> QTableView:
        table, _ = result_table(self.stats_model, self, single_selection=True)
        table.verticalHeader().setDefaultSectionSize(24)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.selectionModel().currentRowChanged.connect(self._row_selected)
        return table

    def _layout(self) -> None:
        top = QHBoxLayout()
        for w in (self.run_button, self.cancel_button, self.progress, self.log_check):
            top.addWidget(w)
        top.addSpacing(12)
        top.addWidget(self.info_label, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart)
        splitter.addWidget(self.table)
        splitter.setSizes([400, 200])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(self.message_label)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.warnings_label)

    # --- running --------------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.job.busy()

    def run(self) -> None:
        """Start a backtest of the portfolio and policy as they stand (ignored while one runs)."""
        if self.job.busy():
            return
        portfolio = self._model.portfolio()
        request = build_backtest_request(portfolio, self._policy() if self._policy else None)
        self._banner("", None)
        self._set_busy(True)
        self.job.start(job_backtest, request, basis=portfolio, cancellable=True)

    def cancel(self) -> None:
        if self.job.busy():
            self.job.cancel()
            self.cancel_button.setEnabled(False)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel a running backtest and wait for it (call from the window's close)."""
        self.job.shutdown(timeout_ms)

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(round(min(max(fraction, 0.0), 1.0) * 100))

    def _set_busy(self, busy: bool) -> None:
        if busy:
            self.progress.setValue(0)
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _errored(self, exc: BaseException) -> None:
        from engine.errors import Cancelled

        kept = " The figures below are from the last completed run." if self.result else ""
        if isinstance(exc, Cancelled):
            self._banner(f"Backtest cancelled.{kept}", "info")
            self.cancelled.emit()
            return
        message = error_message(exc)
        self._banner(f"<b>The backtest did not run.</b> {message}{kept}", "error")
        self.failed.emit(message)

    # --- display ----------------------------------------------------------------------------------------
    def show_result(self, result: BacktestResult, basis: Portfolio | None = None) -> None:
        """Show ``result`` (computed for the portfolio ``basis``, when given)."""
        self.result, self._basis = result, basis
        self.info_label.setText(self._window_text(result))
        self.chart.set_policies(result.policies)
        self.stats_model.set_policies(result.policies)
        warnings = [*result.warnings, *(f"{p.name}: {w}" for p in result.policies for w in p.warnings)]
        warnings += [f"{s} has no history of its own; {proxy} stands in for it." for s, proxy in result.proxies.items()]
        if result.uncovered:
            warnings.append(f"No history for {', '.join(result.uncovered)}: left out of the replay.")
        self.warnings_label.setText("<b>Read with care</b><br>" + "<br>".join(f"• {w}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))
        self.resultReady.emit(result)

    @staticmethod
    def _window_text(r: BacktestResult) -> str:
        w = r.window
        years = w.n_periods / w.periods_per_year if w.periods_per_year else 0.0
        start = ("invested at the target weights on the first day (whole lots, no cost)" if r.initial == "targets"
                 else "today's holdings and cash held from the first day")
        return (f"<b>{date_text(r.start)} → {date_text(r.end)}</b> &nbsp;·&nbsp; {w.n_periods:,} {w.frequency} "
                f"returns ({years:.1f} years) &nbsp;·&nbsp; {money(r.initial_value)} {start}")

    def _note_stale(self) -> None:
        if self.result is None or self.job.busy() or self._basis is None:
            return
        stale = self._model.portfolio() != self._basis
        self._banner("The portfolio changed since this backtest: press <b>Run backtest</b> to replay it."
                     if stale else "", "info")

    def _row_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.chart.highlight(current.siblingAtColumn(0).data(Qt.ItemDataRole.DisplayRole) if current.isValid() else None)

    def _banner(self, html: str, kind: str | None) -> None:
        self.message_label.setVisible(bool(html))
        self.message_label.setText(html)
        if kind:
            self.message_label.setStyleSheet(BANNER_STYLES[kind])
