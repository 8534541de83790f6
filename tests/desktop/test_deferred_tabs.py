"""DeferredTabs: a hidden tab keeps only its latest render and draws it when shown; a failure
kept from an earlier run is dropped when a new run starts."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTabWidget

from desktop.deferred_tabs import DeferredTabs


def _tabs(qtbot) -> tuple[QTabWidget, QLabel, QLabel, DeferredTabs]:
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    first, second = QLabel("first"), QLabel("second")
    tabs.addTab(first, "First")
    tabs.addTab(second, "Second")
    deferred = DeferredTabs(tabs)
    tabs.show()
    return tabs, first, second, deferred


def test_the_showing_tab_renders_at_once_a_hidden_one_when_shown_with_its_latest(qtbot) -> None:
    tabs, first, second, deferred = _tabs(qtbot)
    deferred.deliver(first, lambda: first.setText("result 1"))
    assert first.text() == "result 1"  # the current tab
    deferred.deliver(second, lambda: second.setText("old result"))
    deferred.deliver(second, lambda: second.setText("new result"))
    assert second.text() == "second" and deferred.pending(second)
    tabs.setCurrentWidget(second)
    assert second.text() == "new result" and not deferred.pending(second)


def test_a_kept_failure_is_dropped_when_a_new_run_starts_a_kept_result_is_not(qtbot) -> None:
    tabs, _first, second, deferred = _tabs(qtbot)
    deferred.deliver(second, lambda: second.setText("failed"), error=True)
    deferred.started(second)
    assert not deferred.pending(second)
    deferred.deliver(second, lambda: second.setText("result"))
    deferred.started(second)
    assert deferred.pending(second)
    tabs.setCurrentWidget(second)
    assert second.text() == "result"


def test_tabs_not_on_screen_render_at_once(qtbot) -> None:
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    hidden = QLabel("x")
    tabs.addTab(QLabel("current"), "Current")
    tabs.addTab(hidden, "Other")
    deferred = DeferredTabs(tabs)
    deferred.deliver(hidden, lambda: hidden.setText("drawn"))
    assert hidden.text() == "drawn" and not deferred.pending(hidden)
