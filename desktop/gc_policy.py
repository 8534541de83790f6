"""Garbage collection timed for an interactive window: full collections when the engine is idle.

A full (generation 2) collection walks every tracked object while holding the GIL. With a
5,000-holding document open that is some 350,000 objects (the Qt, pyqtgraph, pandas and engine
modules, plus the results: 95,000 scenario impacts, 5,000 trade lines…), 70–160 ms in one C
call, and CPython starts one whenever enough objects have survived two younger collections,
i.e. in the middle of a computation, several times per recompute. The GUI thread needs the GIL
for every paint, so each was a frozen window. Almost nothing here is cyclic garbage (the
collections reclaimed 0 objects): they were pure cost.

So automatic full collections are made a hundred times rarer (a safety net), and the full
collection runs instead once the engine has been idle for a moment. The first one also freezes
what survives it (:func:`gc.freeze`): modules, classes and the window, which live as long as the
process, and the first document's objects and results, so later collections walk only newer
objects. The price: cycles among those frozen objects are never collected (memory only; the
engine's results are plain trees). Young collections are untouched.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["FULL_COLLECTION_THRESHOLD", "IdleCollector", "make_full_collections_rare"]

#: CPython's third threshold (default 10): young collections between two full ones.
FULL_COLLECTION_THRESHOLD = 1000


def make_full_collections_rare(threshold: int = FULL_COLLECTION_THRESHOLD) -> None:
    """Raise the interpreter's full-collection threshold (process-wide; never lowers it)."""
    first, second, third = gc.get_threshold()
    gc.set_threshold(first, second, max(third, threshold))


class IdleCollector(QObject):
    """Run a full collection ``delay_ms`` after :meth:`idle`, unless :meth:`busy` comes first.

    Parameters
    ----------
    delay_ms
        Quiet time before collecting, so that a burst of edits never waits for it.
    """

    def __init__(self, delay_ms: int = 1500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        make_full_collections_rare()
        self.collections = 0
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.collect)

    def idle(self) -> None:
        self._timer.start()

    def busy(self) -> None:
        self._timer.stop()

    def pending(self) -> bool:
        return self._timer.isActive()

    def collect(self) -> int:
        """Collect now; returns the number of unreachable objects found."""
        self._timer.stop()
        found = gc.collect()
        if not gc.get_freeze_count():  # once per process: what has survived start-up stays
            gc.freeze()
        self.collections += 1
        return found
