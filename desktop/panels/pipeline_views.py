"""Display pieces of the Pipeline tab: the stage timeline, the targets, controls and runs tables,
and the sentences that summarise a decision and its simulated execution.

Everything here only formats a :class:`~engine.schemas.pipeline.RunRecord` the engine produced;
nothing computes. Table models put the formatted text in ``DisplayRole`` and the raw value in
``Qt.UserRole`` (what tests compare with the record).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QStyledItemDelegate, QTreeWidget, QTreeWidgetItem

from desktop.panels.formatting import DASH, money, number, pct, pp
from desktop.panels.table_models import ReadOnlyTable
from engine.pipeline.definition import STAGES
from engine.schemas.execution import ExecutionReport
from engine.schemas.governance import ControlResult
from engine.schemas.pipeline import RunDecision, RunRecord, StageRecord

__all__ = ["CONTROL_NAMES", "STATUS_TEXT", "ControlsModel", "StageTimeline", "TableColumn",
           "TargetRow", "TargetsModel", "decision_text", "execution_text", "local_time", "optimiser_text", "run_label", "skill_text",
           "target_rows"]

Index = QModelIndex | QPersistentModelIndex

#: A run's status in an advisor's words, and its colour.
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "running": ("Running", "#1f4e89"), "awaiting_approval": ("Awaiting approval", "#7a4b00"),
    "blocked": ("Blocked by a control", "#b3261e"), "approved": ("Approved", "#1e7d45"),
    "rejected": ("Rejected", "#52606d"), "failed": ("Failed", "#b3261e"),
    "incomplete": ("Incomplete (interrupted)", "#b3261e"),
}
CONTROL_NAMES = {
    "max_turnover": "Maximum turnover", "max_single_trade": "Largest single trade", "class_limits": "Asset-class limits",
    "min_cash": "Minimum cash", "restricted_list": "Restricted list", "post_trade_volatility": "Post-trade volatility",
    "post_trade_var_95": "Post-trade VaR 95",
}
# (text colour, background) of pass / warn / fail, the same greens, ambers and reds as the other tabs.
_RESULT_COLORS = {"pass": ("#1e7d45", "#e3f4ea"), "warn": ("#7a4b00", "#fff6e5"), "fail": ("#b3261e", "#fdecea")}
_STAGE_COLORS = {"ok": "#1e7d45", "failed": "#b3261e", "running": "#1f4e89", "pending": "#7b8794",
                 "not run": "#7b8794"}
_WARN = QColor("#7a4b00")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_BAR_ROLE = int(Qt.ItemDataRole.UserRole) + 1


def local_time(t: dt.datetime | None, seconds: bool = False) -> str:
    """A UTC timestamp in the computer's time zone: ``2026-11-24 12:04``."""
    if t is None:
        return DASH
    return t.astimezone().strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def _ms(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{x / 1e3:.2f} s" if x >= 1e3 else f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


# --- generic read-only table model --------------------------------------------------------------
@dataclass(frozen=True)
class TableColumn:
    header: str
    raw: Callable[[Any], Any]
    text: Callable[[Any], str]
    numeric: bool = False
    tooltip: Callable[[Any], str] | None = None


class _Columns(ReadOnlyTable):
    columns: Sequence[TableColumn] = ()

    @property
    def headers(self) -> list[str]:  # type: ignore[override]
        return [c.header for c in self.columns]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row, col = self._rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(row)
        if role == Qt.ItemDataRole.UserRole:
            return col.raw(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and col.numeric:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and col.tooltip is not None:
            return col.tooltip(row)
        return self.style(row, col.header, role)

    def style(self, row: Any, header: str, role: int) -> Any:
        return None


# --- targets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetRow:
    symbol: str
    strategic: float
    chosen: float | None
    expected_return: float | None
    confidence: float | None
    reason: str


def target_rows(record: RunRecord) -> list[TargetRow]:
    """One row per holding: strategic and chosen target, forecast return and confidence, tilt reason."""
    forecast = {a.symbol: a for a in record.forecast.assets} if record.forecast else {}
    tilts = {a.symbol: a.reason for a in record.optimisation.assets} if record.optimisation else {}
    chosen = record.targets or {}
    rows = []
    for h in record.request.portfolio.holdings:
        f = forecast.get(h.symbol)
        rows.append(TargetRow(h.symbol, h.target_weight, chosen.get(h.symbol), f.expected_return if f else None,
                              f.confidence if f else None, tilts.get(h.symbol, "")))
    return rows


def _tilt(r: TargetRow) -> float | None:
    return None if r.chosen is None else r.chosen - r.strategic


class TargetsModel(_Columns):
    columns = (
        TableColumn("Symbol", lambda r: r.symbol, lambda r: r.symbol, tooltip=lambda r: r.reason),
        TableColumn("Strategic", lambda r: r.strategic, lambda r: pct(r.strategic, 2), True),
        TableColumn("Chosen", lambda r: r.chosen, lambda r: pct(r.chosen, 2), True),
        TableColumn("Tilt", _tilt, lambda r: pp(_tilt(r)), True, lambda r: r.reason),
        TableColumn("Forecast (ann.)", lambda r: r.expected_return, lambda r: pct(r.expected_return, 1), True,
                    lambda r: "Annualised ensemble expected return as of the forecast date. Read it with the "
                              "measured skill shown above the table."),
        TableColumn("Confidence", lambda r: r.confidence, lambda r: number(r.confidence, 2), True,
                    lambda r: "0 = the signals are noise, 1 = certain. Low confidence shrinks the tilt."),
    )

    def style(self, row: TargetRow, header: str, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and header == "Tilt" and abs(_tilt(row) or 0.0) < 5e-5:
            return QColor("#7b8794")
        return None


def skill_text(record: RunRecord) -> tuple[str, str]:
    """(HTML, banner kind) saying plainly how much the forecast figures can be trusted."""
    s = record.skill
    if s is None:
        why = next((w for st in record.stages if st.name == "forecast" for w in st.warnings), "not measured")
        return f"<b>Forecast skill not measured.</b> {why}. Treat the forecast figures below as untested.", "bound"
    verdict = s.verdict[:1].upper() + s.verdict[1:]
    detail = f"Walk-forward {s.window_start} to {s.window_end}, {s.n_dates} dates; hit rate {pct(s.hit_rate)}."
    if s.skill in ("weak", "moderate"):
        return f"<b>Measured forecast skill: {s.skill}.</b> {verdict}. {detail}", "info"
    return (f"<b>No measured forecast skill.</b> {verdict}. {detail} The forecast figures beside this are not "
            "evidence of an edge.", "bound")


def optimiser_text(record: RunRecord) -> str:
    """Which targets the proposal trades towards, why, and what the optimiser's targets promise."""
    if record.target_source is None:
        return "<b>Targets:</b> not chosen (the run stopped before the optimizer)."
    source = "optimised (AI-tilted)" if record.target_source == "optimised" else "strategic"
    lines = [f"<b>Traded towards the {source} targets:</b> {record.target_reason or ''}."]
    o = record.optimisation
    if o is not None and record.target_source == "optimised":
        lines.append(f"Expected return {pct(o.expected_return, 2)} a year (shrunk by confidence), active "
                     f"volatility {pct(o.active_volatility, 2)} against the strategic mix, turnover "
                     f"{pct(o.turnover, 2)}" + (f"; at its limit: {', '.join(o.binding)}" if o.binding else "") + ".")
    return "<br>".join(lines)


# --- controls ----------------------------------------------------------------------------------
def _control_value(r: ControlResult, x: float | None) -> str:
    if r.control == "restricted_list":
        return DASH if x is None else f"{x:.0f}"
    return pct(x, 2)


class ControlsModel(_Columns):
    columns = (
        TableColumn("Control", lambda r: r.control, lambda r: CONTROL_NAMES.get(r.control, r.control),
                    tooltip=lambda r: r.control),
        TableColumn("Result", lambda r: r.status, lambda r: r.status.upper()),
        TableColumn("Kind", lambda r: r.hard, lambda r: "hard" if r.hard else "soft",
                    tooltip=lambda r: "A failed hard control blocks approval." if r.hard else "Advisory only."),
        TableColumn("Value", lambda r: r.value, lambda r: _control_value(r, r.value), True),
        TableColumn("Limit", lambda r: r.limit, lambda r: _control_value(r, r.limit), True),
        TableColumn("Reason", lambda r: r.reason, lambda r: r.reason, tooltip=lambda r: r.reason),
    )

    def style(self, row: ControlResult, header: str, role: int) -> Any:
        if header != "Result":
            return None
        fg, bg = _RESULT_COLORS[row.status]
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(fg)
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(QColor(bg))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None


# --- past runs ---------------------------------------------------------------------------------
def run_label(summary: Any) -> str:
    """A past run as one line of the run list: when, which book, what became of it."""
    status = STATUS_TEXT.get(summary.status, (summary.status,))[0]
    trades = f" · {summary.n_trades} trades" if summary.n_trades is not None else ""
    return f"{local_time(summary.created_at)} · {summary.portfolio[:40]} · {status}{trades}"


# --- timeline ----------------------------------------------------------------------------------
class _DurationBar(QStyledItemDelegate):
    """The duration text over a bar whose length is the stage's share of the slowest stage."""

    def paint(self, painter, option, index) -> None:
        share = index.data(_BAR_ROLE)
        if isinstance(share, float) and share > 0:
            r = option.rect.adjusted(2, 4, -2, -4)
            painter.fillRect(QRect(r.left(), r.top(), max(2, int(r.width() * share)), r.height()), QColor("#d6e4f5"))
        super().paint(painter, option, index)


class StageTimeline(QTreeWidget):
    """The seven declared stages in order: status, duration (with a bar), key decision, warnings.

    Each stage's full decisions and warnings are its child rows; a failed stage starts expanded.
    """

    HEADERS = ("Stage", "Status", "Duration", "Key decision", "Warnings")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(self.HEADERS))
        self.setHeaderLabels(self.HEADERS)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(False)
        self.setWordWrap(True)
        self.setItemDelegateForColumn(2, _DurationBar(self))
        header = self.header()
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents,
                                    QHeaderView.ResizeMode.Fixed, QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(col, mode)
        header.setStretchLastSection(False)
        self.setColumnWidth(2, 90)
        self.show_stages([], finished=False)

    def show_stages(self, stages: Sequence[StageRecord], *, finished: bool = True) -> None:
        """Show recorded ``stages``; the declared stages after them read 'not run' once the run
        is ``finished`` (it failed or was interrupted), else 'pending'."""
        self.clear()
        slowest = max((s.duration_ms for s in stages), default=0.0)
        for i, spec in enumerate(STAGES):
            item = QTreeWidgetItem(self)
            item.setText(0, f"{i + 1}. {spec.agent}")
            item.setToolTip(0, f"{spec.name}: {spec.role}")
            if i < len(stages):
                self._fill(item, stages[i], slowest)
            else:
                state = "not run" if finished else "pending"
                item.setText(1, state)
                item.setForeground(1, QColor(_STAGE_COLORS[state]))

    def show_progress(self, running: int) -> None:
        """While a run is under way: stages before ``running`` finished (a failure would have ended
        the run), ``running`` is under way, the rest wait."""
        self.clear()
        for i, spec in enumerate(STAGES):
            state = "ok" if i < running else "running…" if i == running else "pending"
            item = QTreeWidgetItem(self, [f"{i + 1}. {spec.agent}", state])
            item.setToolTip(0, f"{spec.name}: {spec.role}")
            item.setForeground(1, QColor(_STAGE_COLORS[state.rstrip("…")]))

    def _fill(self, item: QTreeWidgetItem, stage: StageRecord, slowest: float) -> None:
        item.setText(1, stage.status)
        item.setForeground(1, QColor(_STAGE_COLORS[stage.status]))
        item.setText(2, _ms(stage.duration_ms))
        item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setData(2, _BAR_ROLE, stage.duration_ms / slowest if slowest > 0 else 0.0)
        key = stage.error or (stage.decisions[-1] if stage.name == "supervisor_approval" and stage.decisions
                              else stage.decisions[0] if stage.decisions else "")
        item.setText(3, key)
        item.setToolTip(3, "\n".join(["• " + d for d in stage.decisions] + ["⚠ " + w for w in stage.warnings]))
        if stage.warnings:
            item.setText(4, f"⚠ {len(stage.warnings)}")
            item.setForeground(4, _WARN)
        lines = [(d, None) for d in stage.decisions] + [(w, _WARN) for w in stage.warnings]
        lines += [(stage.error, QColor("#b3261e"))] if stage.error else []
        for text, color in lines:
            child = QTreeWidgetItem(item, [("⚠ " if color is _WARN else "• ") + text])
            child.setToolTip(0, text)
            if color is not None:
                child.setForeground(0, color)
        for k in range(item.childCount()):
            item.child(k).setFirstColumnSpanned(True)
        item.setExpanded(stage.error is not None)  # warnings are listed in full under the timeline

    def stage_rows(self) -> list[tuple[str, str, str]]:
        """(stage label, status, duration text) of every row, top to bottom (for tests)."""
        return [(self.topLevelItem(i).text(0), self.topLevelItem(i).text(1), self.topLevelItem(i).text(2))
                for i in range(self.topLevelItemCount())]


# --- decision and execution ----------------------------------------------------------------------
def decision_text(decision: RunDecision) -> str:
    verb = "Approved" if decision.action == "approve" else "Rejected"
    note = decision.note.replace("&", "&amp;").replace("<", "&lt;")
    return f"<b>{verb}</b> by {decision.user} on {local_time(decision.at)}: “{note}”"


def execution_text(report: ExecutionReport) -> str:
    """The simulated execution and its transaction-cost analysis in three lines of HTML."""
    t = report.totals
    diff = t.cost_difference
    lines = [
        f"<b>Simulated execution</b> (seed {report.seed}): {t.n_fills} fills, bought {money(t.buy_value)}, "
        f"sold {money(t.sell_value)} at decision prices.",
        f"Estimated cost {money(t.estimated_cost, digits=2)} vs simulated {money(t.simulated_cost, digits=2)} "
        f"({'+' if diff >= 0 else ''}{money(diff, digits=2)}); implementation shortfall "
        f"{money(t.shortfall, digits=2)} = {number(t.shortfall_bps, 1)} bps; slippage {number(t.slippage_bps, 1)} bps.",
    ]
    if report.flags:
        flags = "; ".join(f.reason for f in report.flags)
        lines.append(f"<span style='color:#b3261e'><b>Surveillance flags ({len(report.flags)}):</b> {flags}</span>")
    else:
        lines.append("<span style='color:#1e7d45'>No surveillance flags: every line within its thresholds.</span>")
    return "<br>".join(lines)
