"""The Pipeline tab: run the governed agent pipeline, read its record, approve or reject it.

The tab owns its work (STYLE.md): each slot gathers its inputs and starts one of the job
functions below on a pool thread; the GUI thread only formats the :class:`RunRecord` that
comes back. Every job opens its own run store and audit log (SQLite connections are not
shared between threads) at the paths given to the tab, by default the engine's data directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controller import error_message
from desktop.panels.formatting import BANNER_STYLES, money, pct
from desktop.panels.pipeline_views import (
    CONTROL_NAMES,
    STATUS_TEXT,
    ControlsModel,
    StageTimeline,
    TargetsModel,
    decision_text,
    execution_text,
    local_time,
    optimiser_text,
    run_label,
    skill_text,
    target_rows,
)
from desktop.workers import Worker
from engine.audit import default_user
from engine.pipeline.definition import STAGES
from engine.schemas.pipeline import RunRecord

__all__ = ["PipelineTab", "build_request", "job_decide", "job_get_run", "job_list_runs", "job_run_pipeline",
           "open_store"]

N_STAGES = len(STAGES)
_ERROR_STYLE = "color:#b3261e; font-size:9pt;"


# --- jobs: run on pool threads -------------------------------------------------------------------
@contextmanager
def open_store(runs_path: Path | None, audit_path: Path | None) -> Iterator[Any]:
    """A RunStore with its audit log, both closed on exit (None: the data directory's files)."""
    from engine.audit import AuditLog
    from engine.pipeline.store import RunStore

    with AuditLog(audit_path) as audit, RunStore(runs_path, audit) as store:
        yield store


def job_run_pipeline(request: Mapping[str, Any], user: str | None, runs_path: Path | None,
                     audit_path: Path | None, *, progress: Callable[[float], None],
                     cancel: Callable[[], bool]) -> RunRecord:
    """``service.run_pipeline``; progress reports ``index / 7`` as each stage starts."""
    from engine import service

    with open_store(runs_path, audit_path) as store:
        return service.run_pipeline(request, user=user or None, store=store, cancel=cancel,
                                    on_stage=lambda _name, i, total: progress(i / total))


def job_get_run(run_id: str, runs_path: Path | None, audit_path: Path | None) -> RunRecord:
    from engine import service

    with open_store(runs_path, audit_path) as store:
        return service.get_run(run_id, store=store)


def job_list_runs(runs_path: Path | None, audit_path: Path | None, limit: int = 200) -> list[Any]:
    from engine import service

    with open_store(runs_path, audit_path) as store:
        return service.list_runs(limit=limit, store=store)


def job_decide(action: str, run_id: str, user: str, note: str, runs_path: Path | None,
               audit_path: Path | None) -> RunRecord:
    """Approve (then simulate execution) or reject; the engine refuses an empty note or user."""
    from engine import service

    decide = service.approve_run if action == "approve" else service.reject_run
    with open_store(runs_path, audit_path) as store:
        return decide(run_id, user=user, note=note, store=store)


def build_request(given: Mapping[str, Any]) -> dict[str, Any]:
    """A PipelineRequest as plain data from the main window's current models (engine-validated later)."""
    return {k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in given.items() if v is not None}


# --- the tab -------------------------------------------------------------------------------------
def _table(model: Any, stretch: int) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setResizeContentsPrecision(200)
    view.horizontalHeader().setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


def _label(text: str = "", style: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setStyleSheet(style)
    return label


class PipelineTab(QWidget):
    """Run the pipeline on the current book, show the record, take the supervisor's decision.

    Parameters
    ----------
    request_provider
        Returns the request's parts as they stand: at least ``portfolio``, optionally ``policy``,
        ``risk``, ``controls``… (pydantic models or dicts; the engine validates them).
    runs_path, audit_path
        The run store and audit log; None means the files in ``engine.storage.data_dir()``.
    """

    runFinished = Signal(object)  # RunRecord of a run this tab started
    runShown = Signal(object)  # RunRecord now on screen
    runsListed = Signal(object)  # list[RunSummary]
    decided = Signal(object)  # RunRecord after an approve or reject
    decisionRefused = Signal(str)  # the engine's message
    failed = Signal(str)
    auditChanged = Signal()  # something was appended to the audit log

    def __init__(self, request_provider: Callable[[], Mapping[str, Any]], *, runs_path: Path | None = None,
                 audit_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._provider, self._paths = request_provider, (runs_path, audit_path)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._alive: set[Worker] = set()
        self._run_worker: Worker | None = None
        self._show_generation = 0
        self._deciding = False
        self.record: RunRecord | None = None
        self.runs: list[Any] = []
        self.targets_model, self.controls_model = TargetsModel(self), ControlsModel(self)
        self._build_widgets()
        self._layout()
        self._set_decidable()

    def _build_widgets(self) -> None:
        self.run_button = QPushButton("Run pipeline")
        self.run_button.setToolTip("Supervisor → Data → Forecast → Risk → Optimizer → Execution → Supervisor approval "
                                   "on the portfolio and policy as they stand.")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, N_STAGES)
        self.progress.setFormat("%v of %m stages")
        self.progress.setMaximumWidth(160)
        self.runs_combo = QComboBox()
        self.runs_combo.setMinimumContentsLength(48)
        self.runs_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.runs_combo.setPlaceholderText("No past runs")
        self.runs_combo.setToolTip("Every run kept in the run store, newest first: choose one to re-open it.")
        self.refresh_runs_button = QPushButton("Refresh")
        self.status_label = _label("No run on screen: press <b>Run pipeline</b>, or open a past run.",
                                   "font-size:10pt; color:#1f2933;")
        self.message_label, self.warnings_label = _label(), _label(style=BANNER_STYLES["bound"])
        self.message_label.hide()
        self.warnings_label.hide()
        self.timeline = StageTimeline()
        self.targets_view = _table(self.targets_model, 0)
        self.skill_label = _label()
        self.skill_label.hide()
        self.optimiser_label = _label(style="color:#1f2933;")
        self.controls_view = _table(self.controls_model, 5)
        self.user_edit = QLineEdit(default_user())
        self.user_edit.setMaximumWidth(220)
        self.user_edit.setToolTip("Recorded with every run and decision in the audit trail.")
        self.user_error, self.note_error = _label(style=_ERROR_STYLE), _label(style=_ERROR_STYLE)
        self.note_edit = QPlainTextEdit()
        self.note_edit.setPlaceholderText("Why you approve or reject this proposal (required; kept in the audit trail)")
        self.note_edit.setFixedHeight(54)
        self.approve_button, self.reject_button = QPushButton("Approve"), QPushButton("Reject")
        self.decision_hint = _label(style="color:#52606d;")
        self.decision_label, self.execution_label = _label(), _label()
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.approve_button.clicked.connect(lambda: self._decide("approve"))
        self.reject_button.clicked.connect(lambda: self._decide("reject"))
        self.runs_combo.activated.connect(self._run_chosen)
        self.refresh_runs_button.clicked.connect(self.refresh_runs)

    def _layout(self) -> None:
        top = QHBoxLayout()
        for w in (self.run_button, self.cancel_button, self.progress):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(QLabel("Past runs:"))
        top.addWidget(self.runs_combo)
        top.addWidget(self.refresh_runs_button)
        beside = QWidget()
        side = QVBoxLayout(beside)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.skill_label)
        side.addWidget(self.optimiser_label)
        side.addStretch(1)
        targets = QHBoxLayout()
        targets.addWidget(self.targets_view, 3)
        targets.addWidget(beside, 2)
        self.timeline.setMinimumHeight(7 * 22 + 34)
        self.targets_view.setMinimumHeight(7 * 22 + 30)
        self.controls_view.setMinimumHeight(7 * 22 + 30)
        body = QWidget()
        col = QVBoxLayout(body)
        col.setContentsMargins(0, 0, 6, 0)
        for w in (self.status_label, self.message_label, _label("<b>Stages</b> (click ▸ for every decision and "
                                                                  "warning)"), self.timeline, self.warnings_label,
                  _label("<b>Targets and forecast</b>"), targets, _label("<b>Pre-trade controls</b>"),
                  self.controls_view, self._decision_box()):
            col.addLayout(w) if isinstance(w, QHBoxLayout) else col.addWidget(w)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

    def _decision_box(self) -> QGroupBox:
        box = QGroupBox("Supervisor approval")
        grid = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("User:"))
        row.addWidget(self.user_edit)
        row.addWidget(self.decision_hint, 1)
        grid.addLayout(row)
        grid.addWidget(self.user_error)
        note_row = QHBoxLayout()
        note_row.addWidget(self.note_edit, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.reject_button)
        note_row.addLayout(buttons)
        grid.addLayout(note_row)
        for w in (self.note_error, self.decision_label, self.execution_label):
            grid.addWidget(w)
        self.user_error.hide()
        self.note_error.hide()
        return box

    # --- workers ----------------------------------------------------------------------------------
    def _start(self, fn: Callable[..., Any], *args: Any, returned: Callable[[Any], None],
               errored: Callable[[BaseException], None], cancellable: bool = False) -> Worker:
        worker = Worker(fn, *args, cancellable=cancellable)
        worker.signals.returned.connect(returned)
        worker.signals.errored.connect(errored)
        worker.signals.finished.connect(lambda: self._alive.discard(worker))
        self._alive.add(worker)
        return worker.start(self._pool)

    def is_busy(self) -> bool:
        return bool(self._alive)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel a running pipeline and wait for every job (call from the window's close)."""
        if self._run_worker is not None:
            self._run_worker.cancel()
        self._pool.waitForDone(timeout_ms)

    # --- running -----------------------------------------------------------------------------------
    def run(self) -> None:
        """Start a pipeline run on the request as it stands (ignored while one is running)."""
        if self._run_worker is not None:
            return
        try:
            request = build_request(self._provider())
        except Exception as exc:  # the provider reads the editor: say what is wrong, do not crash
            self._banner(f"<b>Cannot start the run.</b> {error_message(exc)}", "error")
            return
        self._banner("", None)
        self.timeline.show_progress(0)
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._run_worker = self._start(job_run_pipeline, request, self.user_edit.text().strip(), *self._paths,
                                       returned=self._run_returned, errored=self._run_errored, cancellable=True)
        self._run_worker.signals.progress.connect(self._run_progress)
        self._run_worker.signals.finished.connect(self._run_over)

    def cancel(self) -> None:
        if self._run_worker is not None:
            self._run_worker.cancel()
            self.cancel_button.setEnabled(False)

    def _run_progress(self, fraction: float) -> None:
        index = round(fraction * N_STAGES)
        self.progress.setValue(index)
        self.timeline.show_progress(index)

    def _run_returned(self, record: RunRecord) -> None:
        self._show_generation += 1  # a past run still loading must not replace this one
        self.progress.setValue(len([s for s in record.stages if s.status == "ok"]))
        self.show_record(record)
        self.runFinished.emit(record)

    def _run_errored(self, exc: BaseException) -> None:
        message = error_message(exc)
        self._banner(f"<b>The pipeline did not run.</b> {message}", "error")
        self.timeline.show_stages(self.record.stages if self.record else [], finished=self.record is not None)
        self.failed.emit(message)

    def _run_over(self) -> None:
        self._run_worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.auditChanged.emit()
        self.refresh_runs()

    # --- past runs -----------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        self._start(job_list_runs, *self._paths, returned=self._runs_listed,
                    errored=lambda exc: self._banner(f"Cannot list the runs: {error_message(exc)}", "error"))

    def _runs_listed(self, runs: list[Any]) -> None:
        self.runs = list(runs)
        self.runs_combo.clear()
        for summary in self.runs:
            self.runs_combo.addItem(run_label(summary), summary.run_id)
            self.runs_combo.setItemData(self.runs_combo.count() - 1, f"run {summary.run_id} by {summary.user}",
                                        Qt.ItemDataRole.ToolTipRole)
        shown = self.record.run_id if self.record else None
        self.runs_combo.setCurrentIndex(self.runs_combo.findData(shown) if shown else -1)
        self.runsListed.emit(self.runs)

    def _run_chosen(self, index: int) -> None:
        run_id = self.runs_combo.itemData(index)
        if run_id and (self.record is None or run_id != self.record.run_id):
            self.open_run(run_id)

    def open_run(self, run_id: str) -> None:
        """Load a stored run and show it (a newer request or a finishing run supersedes it)."""
        self._show_generation += 1
        generation = self._show_generation

        def shown(record: RunRecord) -> None:
            if generation == self._show_generation:
                self.show_record(record)

        self._start(job_get_run, run_id, *self._paths, returned=shown,
                    errored=lambda exc: self._banner(f"Cannot open run {run_id}: {error_message(exc)}", "error"))

    # --- display -------------------------------------------------------------------------------------
    def show_record(self, record: RunRecord) -> None:
        """Show every part of ``record``: header, timeline, targets, skill, controls, decision."""
        self.record = record
        self.status_label.setText(self._header(record))
        self.timeline.show_stages(record.stages, finished=record.status != "running")
        self.targets_model.set_rows(target_rows(record) if record.targets or record.forecast else [])
        self._show_targets(record)
        self.controls_model.set_rows(record.controls.results if record.controls else [])
        self.warnings_label.setText("<b>Warnings</b><br>" + "<br>".join(f"• {w}" for w in record.warnings))
        self.warnings_label.setVisible(bool(record.warnings))
        failed = record.error
        self._banner(f"<b>Failed at stage {failed.stage}:</b> {failed.type}: {failed.message}" if failed else "",
                     "error" if failed else None)
        self.decision_label.setText(decision_text(record.decision) if record.decision else "")
        self.execution_label.setText(execution_text(record.execution) if record.execution else "")
        self._set_decidable()
        self.runShown.emit(record)

    def _header(self, r: RunRecord) -> str:
        text, color = STATUS_TEXT.get(r.status, (r.status, "#1f2933"))
        p = r.request.portfolio
        took = f" · took {r.duration_ms / 1e3:.2f} s" if r.duration_ms is not None else ""
        lines = [f"<span style='color:{color}; font-size:12pt; font-weight:600'>{text}</span> &nbsp; "
                 f"{p.name} · {len(p.holdings)} holdings · {money(p.total_value)} · run by {r.user} on "
                 f"{local_time(r.created_at)}{took} · <span style='color:#7b8794'>{r.run_id}</span>"]
        if r.proposal is not None:
            t = r.proposal.totals
            lines.append(f"Proposal: {t.n_trades} trades, buys {money(t.buy_value)}, sells {money(t.sell_value)}, "
                         f"turnover {pct(t.turnover, 2)}, commission {money(t.total_cost, digits=2)}.")
        return "<br>".join(lines)

    def _show_targets(self, r: RunRecord) -> None:
        self.optimiser_label.setText(optimiser_text(r))
        if r.forecast is None and r.skill is None:
            self.skill_label.hide()
            return
        html, kind = skill_text(r)
        self.skill_label.setText(html)
        self.skill_label.setStyleSheet(BANNER_STYLES[kind])
        self.skill_label.show()

    def _set_decidable(self) -> None:
        r = self.record
        awaiting = r is not None and r.status == "awaiting_approval"
        for b in (self.approve_button, self.reject_button):
            b.setEnabled(awaiting and not self._deciding)
        if r is None:
            hint = "Run the pipeline to get a proposal to approve or reject."
        elif awaiting:
            hint = "Every hard control passed. Approve or reject with a note; approval simulates the execution."
        elif r.status == "blocked":
            failed = [CONTROL_NAMES.get(c.control, c.control) for c in r.controls.results
                      if c.status == "fail" and c.hard] if r.controls else []
            hint = f"Blocked: hard control failed ({', '.join(failed)}); this run cannot be approved."
        elif r.decision is not None:
            hint = "Decided: the decision and the simulated execution are recorded below."
        else:
            hint = f"This run is {STATUS_TEXT.get(r.status, (r.status,))[0].lower()}: there is nothing to approve."
        self.decision_hint.setText(hint)

    def _banner(self, html: str, kind: str | None) -> None:
        self.message_label.setVisible(bool(html))
        self.message_label.setText(html)
        if kind:
            self.message_label.setStyleSheet(BANNER_STYLES[kind])

    # --- approve / reject -------------------------------------------------------------------------------
    def _decide(self, action: str) -> None:
        if self.record is None or self._deciding:
            return
        for label in (self.user_error, self.note_error):
            label.hide()
        self._deciding = True
        self._set_decidable()
        self._start(job_decide, action, self.record.run_id, self.user_edit.text(), self.note_edit.toPlainText(),
                    *self._paths, returned=self._decided, errored=self._decision_refused)

    def _decided(self, record: RunRecord) -> None:
        self._deciding = False
        self.note_edit.clear()
        self.show_record(record)
        self.decided.emit(record)
        self.auditChanged.emit()
        self.refresh_runs()

    def _decision_refused(self, exc: BaseException) -> None:
        from engine.errors import InvalidRequest

        self._deciding = False
        self._set_decidable()
        message = error_message(exc)
        placed = False
        if isinstance(exc, InvalidRequest):
            for d in exc.details:
                field = {"note": self.note_error, "user": self.user_error}.get(str((d.get("loc") or [""])[0]))
                if field is not None:
                    field.setText(d.get("msg", ""))
                    field.show()
                    placed = True
        if not placed:  # refused for the run's state (decided elsewhere meanwhile): show it and reload
            self._banner(f"<b>Decision refused.</b> {message}", "error")
            if self.record is not None:
                self.open_run(self.record.run_id)
        self.decisionRefused.emit(message)
