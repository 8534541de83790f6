"""The AI targets tab: forecasts with their measured skill, strategic against optimised targets.

The tab owns its work (STYLE.md): "Forecast & optimise" gathers the portfolio and policy as
they stand and starts :func:`job_optimize` (``engine.service.optimize``) on a pool thread; the
GUI thread only formats the :class:`PortfolioTargets` that comes back. "Use these targets" is
one undoable :class:`~desktop.commands.ReplacePortfolioCommand` that sets every holding's
target weight, so Ctrl+Z restores the strategic targets in one step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
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
from desktop.panels.ai_targets_views import (
    AI_COLUMNS,
    AiTargetsTableModel,
    AssetRow,
    ConfidenceDelegate,
    asset_rows,
    periods_text,
    skill_banner,
    skill_tooltip,
    why_text,
)
from desktop.panels.charts import GroupedBarChart
from desktop.panels.formatting import BANNER_STYLES, date_text, pct
from desktop.panels.table_models import result_table
from desktop.panels.target_commands import SAME, apply_state, use_targets_command
from desktop.workers import SingleJob
from engine.schemas import Portfolio, RebalancePolicy
from engine.schemas.ai import PortfolioTargets

__all__ = ["AI_COLUMNS", "AiTargetsTab", "AiTargetsTableModel", "AssetRow", "ConfidenceDelegate", "asset_rows",
           "build_optimize_request", "job_optimize", "skill_banner"]

# --- pure helpers (no widgets) --------------------------------------------------------------------
def build_optimize_request(portfolio: Portfolio, policy: RebalancePolicy | None) -> dict[str, Any]:
    """The ``service.optimize`` request: the policy's cost and turnover cap feed the optimiser
    (the engine's defaults otherwise), so the tilt never asks for trades the policy forbids."""
    optimize: dict[str, Any] = {}
    if policy is not None:
        optimize["cost_bps"] = policy.cost_bps
        if policy.turnover_limit is not None:
            optimize["turnover_limit"] = policy.turnover_limit
    return {"portfolio": portfolio.model_dump(), "optimize": optimize}


def job_optimize(request: Mapping[str, Any]) -> PortfolioTargets:
    """Run on a pool thread: the forecast, its walk-forward skill and the optimised targets."""
    from engine import service

    return service.optimize(request)



def _label(style: str = "", rich: bool = True) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setStyleSheet(style)
    return label


class AiTargetsTab(QWidget):
    """Forecast & optimise the portfolio of ``model``; use the optimised targets (undoable).

    Parameters
    ----------
    model
        The holdings model: read when a run starts, and changed (through its undo stack) by
        "Use these targets".
    policy
        Returns the rebalancing policy as it stands (its cost and turnover cap shape the tilt);
        None uses the engine's optimiser defaults.
    """

    resultReady = Signal(object)  # PortfolioTargets now on screen
    failed = Signal(str)
    targetsApplied = Signal(dict)  # symbol -> target weight just set

    def __init__(self, model: Any, policy: Callable[[], RebalancePolicy] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model, self._policy = model, policy
        self.job = SingleJob(self)
        self.job.ended.connect(lambda: self._set_busy(False))
        self.job.returned.connect(self.show_result)
        self.job.errored.connect(self._errored)
        self.result: PortfolioTargets | None = None
        self._basis: Portfolio | None = None
        self.table_model = AiTargetsTableModel(self)
        self._build()
        self._layout()
        model.portfolioChanged.connect(self.refresh_apply_state)
        model.modelReset.connect(self.refresh_apply_state)
        self.refresh_apply_state()

    def _build(self) -> None:
        self.run_button = QPushButton("Forecast && optimise")
        self.run_button.setToolTip("Forecast every holding (momentum, mean reversion, EWMA), measure the model's "
                                   "skill walk-forward on their own history, then tilt the strategic targets.")
        self.run_button.clicked.connect(self.run)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # the engine reports no progress here: an indeterminate bar
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.info_label = _label("color:#52606d; font-size:9pt;")
        self.info_label.setText("No forecast yet: press <b>Forecast &amp; optimise</b>.")
        self.skill_label = _label()
        self.skill_label.hide()
        self.status_label = _label("font-size:10pt; color:#1f2933;")
        self.use_button = QPushButton("Use these targets")
        self.use_button.clicked.connect(self.use_targets)
        self.use_note = _label("color:#52606d; font-size:9pt;", rich=False)
        self.use_note.setMaximumWidth(330)
        self.message_label = _label()
        self.message_label.hide()
        self.warnings_label = _label(BANNER_STYLES["bound"])
        self.warnings_label.hide()
        self.table = self._make_table()
        self.detail_label = _label("color:#1f2933; font-size:9pt; padding:2px 4px;", rich=False)
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)
        self.chart = GroupedBarChart(title="Target weights: strategic against optimised",
                                     before_name="Strategic", after_name="Optimised", target_name=None)

    def _make_table(self) -> QTableView:
        table, _ = result_table(self.table_model, self)
        table.verticalHeader().setDefaultSectionSize(24)
        table.setItemDelegateForColumn(self.table_model.column("Confidence"), ConfidenceDelegate(table))
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setResizeContentsPrecision(200)  # size columns from a sample, not every row
        header.setStretchLastSection(True)
        return table

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.busy)
        top.addWidget(self.info_label, 1)
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)
        use = QVBoxLayout()
        use.addWidget(self.use_button)
        use.addWidget(self.use_note)
        use.addStretch(1)
        status.addLayout(use)
        splitter = QSplitter(Qt.Orientation.Vertical)
        table_box = QWidget()
        box = QVBoxLayout(table_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.table, 1)
        box.addWidget(self.detail_label)
        splitter.addWidget(table_box)
        splitter.addWidget(self.chart)
        splitter.setSizes([350, 190])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(self.message_label)
        layout.addWidget(self.skill_label)
        layout.addLayout(status)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.warnings_label)

    # --- running ----------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.job.busy()

    def run(self) -> None:
        """Start a forecast and optimisation of the portfolio as it stands (ignored while one runs)."""
        if self.job.busy():
            return
        portfolio = self._model.portfolio()
        request = build_optimize_request(portfolio, self._policy() if self._policy else None)
        self._banner("", None)
        self._set_busy(True)
        self.job.start(job_optimize, request, basis=portfolio)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Wait for a running optimisation (call from the window's close)."""
        self.job.shutdown(timeout_ms)

    def _set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.busy.setVisible(busy)

    def _errored(self, exc: BaseException) -> None:
        message = error_message(exc)
        stale = " The figures below are from the last successful run." if self.result else ""
        self._banner(f"<b>Could not forecast and optimise.</b> {message}{stale}", "error")
        self.failed.emit(message)

    # --- display --------------------------------------------------------------------------------------
    def show_result(self, result: PortfolioTargets, basis: Portfolio) -> None:
        """Show ``result``, computed for the portfolio ``basis``."""
        self.result, self._basis = result, basis
        f = result.forecast
        self.info_label.setText(
            f"Model <b>{f.model_version}</b> &nbsp;·&nbsp; forecast as of {date_text(f.forecast.as_of)} for the next "
            f"{periods_text(f.forecast.horizon, f.frequency)} &nbsp;·&nbsp; {f.n_periods:,} {f.frequency} returns "
            f"{date_text(f.history_start)} → {date_text(f.history_end)}")
        html, kind = skill_banner(f)
        self.skill_label.setText(html)
        self.skill_label.setStyleSheet(BANNER_STYLES[kind] + " font-size:10pt;")
        self.skill_label.setToolTip(skill_tooltip(f))
        self.skill_label.show()
        self.status_label.setText(self._status_html(result))
        rows = asset_rows(result)
        self.table_model.set_rows(rows)
        self.detail_label.setText("Select a holding to read why its target was (or was not) tilted.")
        self.chart.set_data([r.symbol for r in rows], [r.tilt.strategic for r in rows],
                            [r.tilt.optimised for r in rows])
        warnings = dict.fromkeys([*f.warnings, *result.targets.warnings, *result.warnings])
        self.warnings_label.setText("<br>".join(f"• {w}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))
        self.refresh_apply_state()
        self.resultReady.emit(result)

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.table.model().mapToSource(current).row() if current.isValid() else -1
        if 0 <= row < len(self.table_model.rows):
            r = self.table_model.rows[row]
            self.detail_label.setText(f"{r.symbol}: {why_text(r)}")

    @staticmethod
    def _status_html(result: PortfolioTargets) -> str:
        t = result.targets
        if t.status == "fallback":
            return (f"<span style='color:#7a4b00; font-weight:600'>Fallback — the strategic targets are kept.</span> "
                    f"{t.reason}.")
        tilted = sum(abs(a.tilt) > SAME for a in t.assets)
        took = f", {t.solve_seconds * 1e3:.0f} ms" if t.solve_seconds is not None else ""
        bound = f" At their limit: {', '.join(t.binding)}." if t.binding else ""
        return (f"<span style='color:#1e7d45; font-weight:600'>Optimised</span> ({t.solver}{took}): {t.reason}; "
                f"{tilted} of {len(t.assets)} targets tilted.<br>"
                f"<span style='color:#52606d'>Expected return {pct(t.expected_return, 2)} a year (shrunk by "
                f"confidence) · active volatility {pct(t.active_volatility, 2)} against the strategic mix · "
                f"turnover {pct(t.turnover, 2)} · cost {pct(t.cost, 2)} of value.{bound}</span>")

    def _banner(self, html: str, kind: str | None) -> None:
        self.message_label.setVisible(bool(html))
        self.message_label.setText(html)
        if kind:
            self.message_label.setStyleSheet(BANNER_STYLES[kind])

    # --- use these targets ---------------------------------------------------------------------------
    def refresh_apply_state(self) -> None:
        """Enable "Use these targets" only when applying them makes sense, and say why (not)."""
        enabled, note = apply_state(self.result, self._basis, self._model.portfolio())
        self.use_button.setEnabled(enabled)
        self.use_note.setText(note)
        caution = ""
        if self.result is not None and self.result.forecast.skill_level not in ("weak", "moderate"):
            caution = " The forecast behind them has no measured skill."
        self.use_button.setToolTip("Replace every holding's target weight with its optimised target, as one "
                                   "undoable step." + caution)

    def use_targets(self) -> None:
        """Push one undo command that sets every holding's target to its optimised weight."""
        enabled, _note = apply_state(self.result, self._basis, self._model.portfolio())
        if not enabled or self.result is None:
            return
        try:
            command = use_targets_command(self._model, self.result.targets.weights)
        except Exception as exc:  # the engine's refusal is shown, never raised into the event loop
            self._banner(f"<b>Could not use these targets.</b> {error_message(exc)}", "error")
            return
        self._model.push(command)
        self.targetsApplied.emit({h.symbol: h.target_weight for h in self._model.portfolio().holdings})
