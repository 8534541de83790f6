"""Application set-up: the QApplication, where settings and autosave live, the first document."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

__all__ = ["ORGANISATION", "SAMPLE_ID", "build_window", "default_autosave_dir", "ensure_application", "open_first_document"]

ORGANISATION = "SmartPortfolioRebalancer"
APPLICATION = "Smart Portfolio Rebalancer"
#: The bundled sample a new user sees first: nine holdings across equities, factor ETFs, bonds,
#: gold and bitcoin with six years of common daily history, so every tab shows real numbers.
SAMPLE_ID = "P3_PRE_COVID_DIVERSIFIED"


def ensure_application(argv: Sequence[str] | None = None) -> QApplication:
    """The running QApplication, created with the names QSettings uses if there is none."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    return app  # type: ignore[return-value]


def default_autosave_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("smart-portfolio-rebalancer", appauthor=False)) / "autosave"


def build_window(qsettings: QSettings | None = None, autosave_dir: Path | None = None, *, debounce_ms: int = 40):
    """A main window with its window state restored (not shown yet, no document opened)."""
    from desktop.main_window import MainWindow

    qsettings = qsettings if qsettings is not None else QSettings()
    window = MainWindow(qsettings, autosave_dir or default_autosave_dir(), debounce_ms=debounce_ms)
    window.documents.restore_window(window)
    return window


def open_first_document(window, document: str | Path | None = None, *, ask_recovery: bool = True,
                        sample_id: str = SAMPLE_ID) -> None:
    """Open ``document``; else recover an autosave after a crash (asking first); else the last
    document; else the bundled sample. Once the window has painted (desktop/first_paint.py)."""
    window.first_paint.call(lambda: _open_first(window, document, ask_recovery, sample_id))


def _open_first(window, document: str | Path | None, ask_recovery: bool, sample_id: str) -> None:
    docs = window.documents
    if document is not None:
        docs.open(document)
        return
    if docs.recovery_available() and ask_recovery:
        answer = QMessageBox.question(
            window, "Recover unsaved work?",
            "The last session ended without saving its changes. Recover them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            docs.recover()
            return
        docs.discard_autosave()
    docs.open_startup(sample_id)


def run(document: str | Path | None = None, argv: Sequence[str] | None = None) -> int:
    """The interactive application; returns the exit code."""
    app = ensure_application(argv)
    window = build_window()
    window.show()
    open_first_document(window, document)
    return app.exec()
