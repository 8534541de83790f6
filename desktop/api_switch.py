"""The local REST API switch: start/stop the embedded server, show and copy its URL and token.

``api`` (and Flask) is imported only when the user first starts the server, on a worker
thread, so neither the app's start-up nor the GUI thread pays for it. Each start uses a fresh
random token; the server listens on 127.0.0.1 only and is stopped when the window closes. Its
requests are served by worker processes (:mod:`api.workers`), spawned when it starts.
"""

from __future__ import annotations

import secrets
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QGuiApplication

from desktop.controller import error_message
from desktop.workers import Worker

__all__ = ["ApiSwitch"]


def _start_server(token: str) -> Any:
    from api.server import EmbeddedServer, default_processes

    # Served from worker processes: a script's requests never hold this process's GIL, which
    # the GUI thread needs.
    server = EmbeddedServer(host="127.0.0.1", port=0, token=token, processes=default_processes()).start()
    try:
        return server.wait_ready(120)  # "API on" only once requests are answered
    except BaseException:
        server.stop()
        raise


class ApiSwitch(QObject):
    """A checkable action plus copy actions. Signals: ``started(url)``, ``stopped()``,
    ``failed(message)``."""

    started = Signal(str)
    stopped = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server: Any = None
        self._starter: Worker | None = None
        self._stopping: list[Any] = []  # servers stopping in the background
        self.toggle_action = QAction("Local API", self, checkable=True)
        self.toggle_action.setToolTip("Serve the REST API on 127.0.0.1 for scripts and other tools")
        self.toggle_action.toggled.connect(self._toggled)
        self.copy_url_action = QAction("Copy API URL", self, enabled=False)
        self.copy_url_action.triggered.connect(lambda: self._copy(self.url))
        self.copy_token_action = QAction("Copy API token", self, enabled=False)
        self.copy_token_action.triggered.connect(lambda: self._copy(self.token))

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else ""

    @property
    def token(self) -> str:
        return self.server.token if self.server is not None else ""

    def start(self) -> None:
        """Start the server (asynchronously; ``started(url)`` or ``failed`` follows)."""
        if self.running or self._starter is not None:
            return
        self.toggle_action.blockSignals(True)
        self.toggle_action.setChecked(True)
        self.toggle_action.blockSignals(False)
        worker = Worker(_start_server, secrets.token_urlsafe(32))
        worker.signals.returned.connect(self._on_started)
        worker.signals.errored.connect(self._on_failed)
        self._starter = worker.start()

    def stop(self, *, wait: bool = False) -> None:
        """Stop the server. In the background by default (``stopped`` follows): its worker
        processes take a few hundred milliseconds to exit, which the GUI thread must not wait
        for. ``wait=True`` (closing the window) returns once it, and any stop still in progress,
        has finished."""
        server, self.server = self.server, None
        self._sync_actions()
        if wait:
            for pending in [*self._stopping, *([server] if server is not None else [])]:
                pending.stop()  # thread-safe; returns at once for one already stopped
            self._stopping.clear()
            if server is not None:
                self.stopped.emit()
            return
        if server is not None:
            self._stop_later(server, announce=True)

    def _stop_later(self, server: Any, *, announce: bool) -> None:
        """Stop ``server`` on a worker thread; ``stopped`` follows if ``announce``."""
        worker = Worker(server.stop)
        self._stopping.append(server)
        # The lambda holds the worker until it has finished (the pool does not own it).
        worker.signals.finished.connect(lambda: self._on_stopped(server, worker, announce))
        worker.start()

    def _on_stopped(self, server: Any, worker: Worker, announce: bool) -> None:
        if server in self._stopping:  # not already waited for by stop(wait=True)
            self._stopping.remove(server)
            if announce:
                self.stopped.emit()

    def _toggled(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def _on_started(self, server: Any) -> None:
        self._starter = None
        if not self.toggle_action.isChecked():  # switched off while starting
            self._stop_later(server, announce=False)
            return
        self.server = server
        self._sync_actions()
        self.started.emit(server.url)

    def _on_failed(self, exc: BaseException) -> None:
        self._starter = None
        self._sync_actions()
        self.failed.emit(error_message(exc))

    def _sync_actions(self) -> None:
        self.toggle_action.blockSignals(True)
        self.toggle_action.setChecked(self.running)
        self.toggle_action.blockSignals(False)
        self.copy_url_action.setEnabled(self.running)
        self.copy_token_action.setEnabled(self.running)

    @staticmethod
    def _copy(text: str) -> None:
        if text:
            QGuiApplication.clipboard().setText(text)
