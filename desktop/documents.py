"""Documents: new/open/save, recent files, the modified state, autosave and crash recovery.

The modified state is the undo stack's clean state (plus "recovered from autosave"). While the
document is modified an autosave copy is written every ``autosave_ms`` into ``autosave_dir``;
it is deleted on save and on a clean close, so finding one at start-up means the last session
ended without saving: the user is offered to recover it. Files are read on a worker thread and
written atomically by :func:`engine.document.save_document`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.controller import error_message
from desktop.workers import Worker
from engine.document import Document, load_document, save_document

__all__ = ["MAX_RECENT", "DocumentManager", "new_document"]

MAX_RECENT = 8
AUTOSAVE_NAME = "autosave.rebal.json"


def new_document() -> Document:
    """A blank document: one cash line holding the whole target, to be edited."""
    from engine.document import draft_portfolio

    portfolio = draft_portfolio({"name": "New portfolio", "holdings": [
        {"symbol": "CASH", "name": "Cash", "asset_class": "cash", "quantity": 0.0, "price": 1.0, "target_weight": 1.0}]})
    return Document(portfolio=portfolio)


def _load_sample(portfolio_id: str) -> Document:
    from engine import service

    return Document(portfolio=service.sample_portfolio(portfolio_id))


class DocumentManager(QObject):
    """Owns the file side of the document whose content lives in the two models.

    Parameters
    ----------
    holdings, settings
        The :class:`HoldingsModel` and :class:`SettingsModel` holding the content.
    undo
        The document's undo stack (its clean state is the saved state).
    qsettings
        Where recent files, the last document and the window state are kept.
    autosave_dir
        Folder of the autosave copy (created when first needed).
    """

    loading = Signal()  # a file is being read on a worker; loaded or failed follows
    loaded = Signal()
    failed = Signal(str)
    pathChanged = Signal(object)
    modifiedChanged = Signal(bool)
    recentChanged = Signal(list)

    def __init__(self, holdings: Any, settings: Any, undo: QUndoStack, qsettings: QSettings, autosave_dir: Path,
                 *, autosave_ms: int = 30_000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.holdings, self.settings, self.undo, self.qsettings = holdings, settings, undo, qsettings
        self.autosave_dir = Path(autosave_dir)
        self.path: Path | None = None
        self._recovered = False
        self._loader: Worker | None = None
        self._timer = QTimer(self, interval=autosave_ms)
        self._timer.timeout.connect(self.autosave)
        self._timer.start()
        undo.cleanChanged.connect(self._clean_changed)

    # --- state --------------------------------------------------------------------------------
    def _clean_changed(self, clean: bool) -> None:
        # Uses the argument, not the stack: the stack may be mid-destruction when it emits.
        self.modifiedChanged.emit(self._recovered or not clean)

    def is_modified(self) -> bool:
        return self._recovered or not self.undo.isClean()

    def document(self) -> Document:
        s = self.settings
        return Document(portfolio=self.holdings.portfolio(), policy=s.policy, risk=s.risk, monte_carlo=s.monte_carlo)

    def apply(self, doc: Document, path: Path | None, *, recovered: bool = False) -> None:
        """Show ``doc`` (a fresh undo history; modified only if recovered)."""
        self.undo.clear()
        self.holdings.apply_portfolio(doc.portfolio)
        self.settings.apply_all(doc.policy, doc.risk, doc.monte_carlo)
        self.path, self._recovered = path, recovered
        self.undo.setClean()
        self.pathChanged.emit(path)
        self.modifiedChanged.emit(self.is_modified())
        if path is not None:
            self.add_recent(path)
        self.loaded.emit()

    # --- opening (on a worker: a 5,000-holding file must not freeze the window) ---------------
    def _load_async(self, fn: Any, arg: Any, path: Path | None, recovered: bool = False) -> None:
        self.loading.emit()
        worker = Worker(fn, arg)
        worker.signals.returned.connect(lambda doc: self.apply(doc, path, recovered=recovered))
        worker.signals.errored.connect(lambda exc: self.failed.emit(error_message(exc)))
        self._loader = worker.start()

    def new(self) -> None:
        self.apply(new_document(), None)

    def open(self, path: str | Path) -> None:
        """Load ``path``; ``loaded`` or ``failed(message)`` follows."""
        path = Path(path)
        self._load_async(load_document, path, path)

    def open_sample(self, portfolio_id: str) -> None:
        self._load_async(_load_sample, portfolio_id, None)

    def open_startup(self, sample_id: str) -> None:
        """The last document if it still opens, else the bundled sample."""
        last = self.qsettings.value("lastDocument", "", str)
        if last and Path(last).is_file():
            self.failed.connect(self._startup_fallback)
            self._startup_sample = sample_id
            self.open(last)
        else:
            self.open_sample(sample_id)

    def _startup_fallback(self, _message: str) -> None:
        self.failed.disconnect(self._startup_fallback)
        self.open_sample(self._startup_sample)

    # --- saving -------------------------------------------------------------------------------
    def save_as(self, path: str | Path) -> None:
        """Write the document atomically to ``path``; it becomes the current file."""
        path = Path(path)
        save_document(self.document(), path)
        self.path, self._recovered = path, False
        self.undo.setClean()
        self.discard_autosave()
        self.add_recent(path)
        self.pathChanged.emit(path)
        self.modifiedChanged.emit(False)

    def maybe_save(self, parent: QWidget | None, choose_path: Any) -> bool:
        """Ask "save changes?" if modified; ``False`` means the user cancelled.

        ``choose_path()`` returns a path for an untitled document, or ``None`` if cancelled.
        """
        if not self.is_modified():
            return True
        name = self.path.name if self.path else "Untitled"
        answer = QMessageBox.question(
            parent, "Save changes?", f"Save the changes to {name} before closing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            path = self.path or choose_path()
            if path is None:
                return False
            self.save_as(path)
        return True

    def close_cleanly(self) -> None:
        """The user has saved or discarded: no recovery is needed next time."""
        self._timer.stop()
        self.discard_autosave()
        self.qsettings.setValue("lastDocument", str(self.path) if self.path else "")
        self.qsettings.sync()

    # --- autosave and recovery ----------------------------------------------------------------
    @property
    def autosave_path(self) -> Path:
        return self.autosave_dir / AUTOSAVE_NAME

    def autosave(self) -> Path | None:
        """Write the autosave copy if the document is modified; returns its path."""
        if not self.is_modified():
            return None
        self.autosave_dir.mkdir(parents=True, exist_ok=True)
        save_document(self.document(), self.autosave_path)
        meta = {"path": str(self.path) if self.path else None}
        (self.autosave_dir / "autosave.meta.json").write_text(json.dumps(meta), encoding="utf-8")
        return self.autosave_path

    def recovery_available(self) -> bool:
        return self.autosave_path.is_file()

    def recover(self) -> None:
        """Load the autosave copy (modified, attached to its original file if it had one)."""
        meta_file = self.autosave_dir / "autosave.meta.json"
        try:
            original = json.loads(meta_file.read_text(encoding="utf-8")).get("path")
        except (OSError, ValueError):
            original = None
        self._load_async(load_document, self.autosave_path, Path(original) if original else None, recovered=True)

    def discard_autosave(self) -> None:
        self.autosave_path.unlink(missing_ok=True)
        (self.autosave_dir / "autosave.meta.json").unlink(missing_ok=True)

    # --- recent files and window state --------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recentFiles", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if p]

    def add_recent(self, path: Path) -> None:
        items = [str(path), *[p for p in self.recent_files() if p != str(path)]][:MAX_RECENT]
        self.qsettings.setValue("recentFiles", items)
        self.qsettings.setValue("lastDocument", str(path))
        self.recentChanged.emit(items)

    def save_window(self, window: Any) -> None:
        self.qsettings.setValue("window/geometry", window.saveGeometry())
        self.qsettings.setValue("window/state", window.saveState())

    def restore_window(self, window: Any) -> bool:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        restored = bool(geometry) and window.restoreGeometry(geometry)
        if state:
            window.restoreState(state)
        return restored
