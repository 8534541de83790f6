"""FirstPaintGate: callbacks wait for the widget's first paint, or for the fallback if it never paints."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from desktop.first_paint import FirstPaintGate


def test_callbacks_run_after_the_first_paint_in_order_then_at_once(qtbot) -> None:
    label = QLabel("x")
    qtbot.addWidget(label)
    gate = FirstPaintGate(label, fallback_ms=60_000)
    calls: list[int] = []
    gate.call(lambda: calls.append(1))
    gate.call(lambda: calls.append(2))
    assert calls == [] and not gate.open
    label.show()
    qtbot.waitUntil(lambda: gate.open, timeout=10_000)
    assert calls == [1, 2]
    gate.call(lambda: calls.append(3))  # open: runs now
    assert calls == [1, 2, 3]


def test_a_widget_never_shown_opens_the_gate_after_the_fallback(qtbot) -> None:
    label = QLabel("never shown")
    qtbot.addWidget(label)
    gate = FirstPaintGate(label, fallback_ms=50)
    calls: list[str] = []
    gate.call(lambda: calls.append("ran"))
    qtbot.waitUntil(lambda: calls == ["ran"], timeout=5_000)
    assert gate.open and not label.isVisible()
