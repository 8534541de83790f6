"""Guards against a broken Qt binding: the app and the tests pump events thousands of times.

PySide6 6.12.0 releases one reference to ``None`` per ``processEvents()`` call (and
``sendPostedEvents()``, ``QTest.qWait()``); a long session or test run then aborts with
"Fatal Python error: none_dealloc". pyproject.toml excludes that release; this test fails if
a binding with the same fault is ever installed.
"""

from __future__ import annotations

import gc
import sys

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtTest import QTest


@pytest.mark.parametrize("pump", [QCoreApplication.processEvents, QCoreApplication.sendPostedEvents,
                                  lambda: QTest.qWait(0)])
def test_pumping_events_keeps_none_alive(qapp, pump) -> None:
    # Earlier tests leave deferred deletes and garbage whose release legitimately frees
    # references to None: clear them first. A faulty binding loses one per call, every batch.
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()
        gc.collect()
    deltas = []
    for _ in range(3):
        before = sys.getrefcount(None)
        for _ in range(200):
            pump()
        deltas.append(sys.getrefcount(None) - before)
    assert max(deltas) > -50, deltas
