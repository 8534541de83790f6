"""Work that can wait until the window is on screen waits for its first paint.

At start-up the window's first frame is many small calls from Qt into Python (the table's
cells, the charts' items), each needing the GIL. Workers started at the same moment spend it
importing the engine (pandas and friends: about half a second of Python, more with PySide6's
import hook inspecting every new module) and parsing the bundled prices, so the first frame
waited 100–200 ms for them. Loading the first document and the symbol catalogue once the
window has painted keeps that frame free; it costs the user nothing, as the frame comes first.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

__all__ = ["FirstPaintGate"]


class FirstPaintGate(QObject):
    """Run callbacks once ``widget`` has painted for the first time.

    A widget that is never shown (tests, offscreen use without ``show()``) never paints, so the
    gate also opens ``fallback_ms`` after it was created.
    """

    def __init__(self, widget: QWidget, *, fallback_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._widget = widget
        self._waiting: list[Callable[[], None]] = []
        self.open = False
        widget.installEventFilter(self)
        QTimer.singleShot(fallback_ms, self, self._open)

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` now if the widget has painted, else right after its first paint."""
        if self.open:
            fn()
        else:
            self._waiting.append(fn)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._widget and event.type() == QEvent.Type.Paint and not self.open:
            QTimer.singleShot(0, self, self._open)  # after this paint has been drawn
        return False

    def _open(self) -> None:
        if self.open:
            return
        self.open = True
        self._widget.removeEventFilter(self)
        waiting, self._waiting = self._waiting, []
        for fn in waiting:
            fn()
