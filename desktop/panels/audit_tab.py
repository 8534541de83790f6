"""The Audit tab: the hash-chained audit trail, filtered by kind, verified, exported to CSV.

Reading, verifying and exporting run on pool threads, each with its own connection to the log
(:class:`engine.audit.AuditLog` at the tab's path, by default the data directory's). An export
writes exactly :meth:`AuditLog.export_csv` atomically (temporary file, then ``os.replace``) and
is itself logged as an ``export`` entry.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.controller import error_message
from desktop.panels.formatting import BANNER_STYLES, money, pct
from desktop.panels.rebalance_tab import write_text_atomic
from desktop.panels.table_models import ReadOnlyTable
from desktop.workers import Worker
from engine.audit import KINDS, AuditEntry, VerifyResult, default_user

__all__ = ["KIND_NAMES", "AuditTab", "AuditTableModel", "ExportDone", "job_export", "job_load_entries",
           "job_verify", "payload_summary"]

Index = QModelIndex | QPersistentModelIndex

KIND_NAMES = {
    "pipeline_run_started": "Run started", "pipeline_stage": "Pipeline stage", "pipeline_run_completed": "Run completed",
    "pipeline_run_failed": "Run failed", "pipeline_run_incomplete": "Run incomplete", "approval": "Approval",
    "rejection": "Rejection", "export": "Export", "config_change": "Configuration change", "model_change": "Model change",
}
_KIND_COLORS = {"approval": "#1e7d45", "rejection": "#52606d", "pipeline_run_failed": "#b3261e",
                "pipeline_run_incomplete": "#b3261e", "export": "#1f4e89"}
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


# --- jobs ----------------------------------------------------------------------------------------
def _open(audit_path: Path | None) -> Any:
    from engine.audit import AuditLog

    return AuditLog(audit_path)


def job_load_entries(audit_path: Path | None) -> list[AuditEntry]:
    with _open(audit_path) as log:
        return log.entries()


def job_verify(audit_path: Path | None) -> VerifyResult:
    with _open(audit_path) as log:
        return log.verify()


@dataclass(frozen=True)
class ExportDone:
    path: str
    entries: int
    sha256: str


def job_export(audit_path: Path | None, target: str, user: str | None) -> ExportDone:
    """Write the log's CSV to ``target`` atomically, then log the export (path, rows, SHA-256)."""
    with _open(audit_path) as log:
        text = log.export_csv()
        write_text_atomic(target, text)
        n = sum(1 for _ in csv.reader(io.StringIO(text))) - 1
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        log.append("export", {"path": str(target), "entries": n, "sha256": digest, "format": "csv"},
                   subject=Path(target).name, user=user or None)
    return ExportDone(str(target), n, digest)


# --- display ---------------------------------------------------------------------------------------
def entry_time(ts: str) -> str:
    """The entry's UTC timestamp in local time, to the second."""
    try:
        return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return ts


def _short(value: Any, n: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= n else text[: n - 1] + "…"


def payload_summary(kind: str, p: dict[str, Any]) -> str:
    """The few payload fields that tell an auditor what happened, in one line."""
    g = p.get
    if kind == "pipeline_run_started":
        return (f"{g('portfolio', '')} · {g('n_holdings')} holdings · {money(g('value'))} · "
                f"AI targets {'on' if g('use_ai_targets') else 'off'}")
    if kind == "pipeline_stage":
        warns = len(g("warnings") or [])
        text = f"{g('stage')} {g('status')} in {g('duration_ms', 0):,.1f} ms" + (f" · {warns} warning(s)" if warns else "")
        return text + (f" · {g('error')}" if g("error") else "")
    if kind == "pipeline_run_completed":
        failed = g("failed_controls") or []
        return (f"{g('status')} · {g('n_trades')} trades · turnover {pct(g('turnover'), 2)} · "
                f"{g('target_source')} targets" + (f" · failed: {', '.join(failed)}" if failed else ""))
    if kind == "pipeline_run_failed":
        return f"stage {g('stage')}: {g('type')}: {_short(g('message', ''), 120)}"
    if kind == "pipeline_run_incomplete":
        return f"process {g('pid')} stopped after stage {g('last_stage') or 'none'}"
    if kind in ("approval", "rejection"):
        text = f"“{_short(g('note', ''), 80)}” · {g('n_trades')} trades"
        ex = g("execution")
        return text + (f" · simulated cost {money(ex.get('simulated_cost'), digits=2)}" if ex else "")
    if kind == "export":
        return f"{g('entries')} entries to {g('path')}"
    if kind == "model_change" and "action" in p:
        rest = {k: v for k, v in p.items() if k not in ("action", "name", "version", "params_hash")}
        return _short(f"{str(g('action')).replace('_', ' ')} {g('name', '')} v{g('version', '?')}"
                      + "".join(f" · {k} {_value(v)}" for k, v in rest.items()), 160)
    return _short(", ".join(f"{k}={_value(v)}" for k, v in p.items()), 160)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "—" if v is None else _short(v, 30)


class AuditTableModel(ReadOnlyTable):
    """Audit entries: seq, time, user, kind, subject, payload summary (``UserRole``: raw values)."""

    headers = ("Seq", "Time", "User", "Kind", "Subject", "Summary")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.flagged: set[int] = set()

    def set_flagged(self, seqs: set[int]) -> None:
        """Entries a verification reported (drawn in red)."""
        self.flagged = set(seqs)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.headers) - 1))

    def set_entries(self, entries: list[AuditEntry]) -> None:
        self.set_rows(entries)

    def entry(self, row: int) -> AuditEntry:
        return self.row_object(row)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        e, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.UserRole:
            return (e.seq, e.ts, e.user, e.kind, e.subject, e.payload)[col]
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(e.seq), entry_time(e.ts), e.user, KIND_NAMES.get(e.kind, e.kind), e.subject,
                    payload_summary(e.kind, e.payload))[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 0:
            return _RIGHT
        if role == Qt.ItemDataRole.BackgroundRole and e.seq in self.flagged:
            return QColor("#fdecea")
        if role == Qt.ItemDataRole.ForegroundRole and e.seq in self.flagged:
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.ForegroundRole and col == 3 and e.kind in _KIND_COLORS:
            return QColor(_KIND_COLORS[e.kind])
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{e.kind} · {e.ts} UTC\n{payload_summary(e.kind, e.payload)}"
        return None


class KindFilter(QSortFilterProxyModel):
    """Rows of one kind (exact match on the raw kind), or every row when the kind is ''."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.kind = ""
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_kind(self, kind: str) -> None:
        self.beginFilterChange()
        self.kind = kind
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        if not self.kind:
            return True
        return self.sourceModel().index(row, 3, parent).data(Qt.ItemDataRole.UserRole) == self.kind


def flagged_seqs(problems: list[str]) -> set[int]:
    """Sequence numbers a verification names ("entry 7: …"; deleted ranges name no row that exists)."""
    return {int(m) for p in problems for m in re.findall(r"\bentry (\d+)", p)}


def entry_detail(e: AuditEntry) -> str:
    payload = json.dumps(e.payload, indent=2, sort_keys=True, ensure_ascii=False)
    return (f"#{e.seq}  {e.kind}  {e.ts} UTC  user {e.user}  subject {e.subject or '—'}\n"
            f"hash {e.hash}\nprev {e.prev_hash}\n\n{payload}")


# --- the tab -------------------------------------------------------------------------------------------
class AuditTab(QWidget):
    """Show, filter, verify and export the audit trail at ``audit_path`` (None: the data directory's).

    ``user`` names who exports (default the OS user); call :meth:`refresh` after anything
    appended to the log (the Pipeline tab's ``auditChanged``); it also refreshes when shown.
    """

    loaded = Signal(int)  # number of entries
    verified = Signal(object)  # VerifyResult
    exported = Signal(object)  # ExportDone
    failed = Signal(str)

    def __init__(self, *, audit_path: Path | None = None, user: Callable[[], str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._path, self._user = audit_path, user or default_user
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._alive: set[Worker] = set()
        self._load_generation = 0
        self.model = AuditTableModel(self)
        self.proxy = KindFilter(self)
        self.proxy.setSourceModel(self.model)
        self._build()

    def _build(self) -> None:
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("All kinds", "")
        for kind in KINDS:
            self.kind_combo.addItem(KIND_NAMES.get(kind, kind), kind)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self.set_kind(self.kind_combo.currentData()))
        self.refresh_button, self.verify_button = QPushButton("Refresh"), QPushButton("Verify")
        self.export_button = QPushButton("Export CSV…")
        self.verify_button.setToolTip("Recompute the hash chain: any edited, inserted or deleted entry is reported.")
        self.export_button.setToolTip("Write the whole log as CSV (the export itself is logged).")
        self.refresh_button.clicked.connect(self.refresh)
        self.verify_button.clicked.connect(self.verify)
        self.export_button.clicked.connect(lambda: self.export_csv())
        self.count_label = QLabel("")
        self.count_label.setStyleSheet("color:#52606d;")
        self.verify_label = QLabel()
        self.verify_label.setWordWrap(True)
        self.verify_label.setTextFormat(Qt.TextFormat.RichText)
        self.verify_label.hide()
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setResizeContentsPrecision(200)  # the log grows: size columns from a sample of rows
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.view.selectionModel().selectionChanged.connect(self._selected)
        self.detail = QPlainTextEdit(readOnly=True)
        self.detail.setPlaceholderText("Select an entry to see its full payload and hashes.")
        top = QHBoxLayout()
        top.addWidget(QLabel("Kind:"))
        for w in (self.kind_combo, self.refresh_button, self.verify_button, self.export_button):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.count_label)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.detail)
        split.setSizes([480, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(self.verify_label)
        layout.addWidget(split, 1)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()

    # --- workers ---------------------------------------------------------------------------------
    def _start(self, fn: Callable[..., Any], *args: Any, returned: Callable[[Any], None], what: str) -> None:
        worker = Worker(fn, *args)
        worker.signals.returned.connect(returned)
        worker.signals.errored.connect(lambda exc: self._failed(what, exc))
        worker.signals.finished.connect(lambda: self._alive.discard(worker))
        self._alive.add(worker)
        worker.start(self._pool)

    def _failed(self, what: str, exc: BaseException) -> None:
        message = f"{what} failed: {error_message(exc)}"
        self.verify_button.setEnabled(True)
        self.export_button.setEnabled(True)
        self._show_verify(f"<b>{message}</b>", "error")
        self.failed.emit(message)

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._pool.waitForDone(timeout_ms)

    # --- slots -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload every entry (the newest load wins)."""
        self._load_generation += 1
        generation = self._load_generation

        def loaded(entries: list[AuditEntry]) -> None:
            if generation == self._load_generation:
                self._loaded(entries)

        self._start(job_load_entries, self._path, returned=loaded, what="Reading the audit log")

    def _loaded(self, entries: list[AuditEntry]) -> None:
        self.model.set_entries(entries)
        self._update_count()
        self.loaded.emit(len(entries))

    def set_kind(self, kind: str) -> None:
        """Show only entries of ``kind`` ('' for all)."""
        self.proxy.set_kind(kind or "")
        index = self.kind_combo.findData(kind or "")
        if index != self.kind_combo.currentIndex():
            self.kind_combo.setCurrentIndex(index)
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{total:,} entries" if shown == total else f"{shown:,} of {total:,} entries")

    def verify(self) -> None:
        self.verify_button.setEnabled(False)
        self._start(job_verify, self._path, returned=self._verified, what="Verification")

    def _verified(self, result: VerifyResult) -> None:
        self.verify_button.setEnabled(True)
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        self.model.set_flagged(flagged_seqs(result.problems))
        if result.ok:
            self._show_verify(f"<b>Verified OK</b> at {stamp}: all {result.entries:,} entries are intact and "
                              "correctly chained; none edited, inserted or deleted.", "ok")
        else:
            items = "".join(f"<li>{p}</li>" for p in result.problems)
            self._show_verify(f"<b>Verification FAILED</b> at {stamp}: {len(result.problems)} problem(s) in "
                              f"{result.entries:,} entries. The log has been tampered with or damaged:"
                              f"<ul style='margin:2px 0'>{items}</ul>", "error")
        self.verified.emit(result)
        self.refresh()  # show the rows as they now stand (an edit may be what failed)

    def _show_verify(self, html: str, kind: str) -> None:
        style = ("background:#e3f4ea; color:#1e7d45; border:1px solid #a8d5b9; border-radius:4px; padding:6px 10px;"
                 if kind == "ok" else BANNER_STYLES[kind])
        self.verify_label.setStyleSheet(style)
        self.verify_label.setText(html)
        self.verify_label.show()

    def export_csv(self, path: str | Path | None = None) -> None:
        """Export to ``path``; without one, ask where (a cancelled dialog exports nothing)."""
        if path is None:
            stamp = dt.date.today().isoformat()
            path, _ = QFileDialog.getSaveFileName(self, "Export the audit log", f"audit-log-{stamp}.csv",
                                                  "CSV files (*.csv);;All files (*)")
            if not path:
                return
        self.export_button.setEnabled(False)
        self._start(job_export, self._path, str(path), self._user(), returned=self._exported, what="Export")

    def _exported(self, done: ExportDone) -> None:
        self.export_button.setEnabled(True)
        self._show_verify(f"Exported {done.entries:,} entries to {done.path} (SHA-256 {done.sha256[:16]}…); "
                          "the export is logged.", "info")
        self.exported.emit(done)
        self.refresh()

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            self.detail.clear()
            return
        entry = self.model.entry(self.proxy.mapToSource(rows[0]).row())
        self.detail.setPlainText(entry_detail(entry))
