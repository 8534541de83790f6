"""The composed window: an edit reaches the model and the tabs; the trade list is the engine's;
undo/redo through the actions; the API stops on close; screenshots and smoke run headless."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from desktop.__main__ import SCREENSHOT_SIZE, main
from desktop.app import build_window
from desktop.holdings_model import KEYS
from engine import service
from engine.document import Document
from engine.schemas import RebalanceRequest

QTY = KEYS.index("quantity")


@pytest.fixture
def window(qtbot, qsettings, tmp_path, sample):
    w = build_window(qsettings, tmp_path / "autosave", debounce_ms=10)
    w.show()  # not qtbot.addWidget: its close would come before the clean-up below and ask to save
    with qtbot.waitSignal(w.controller.riskReady, timeout=60_000):
        w.documents.apply(Document(portfolio=sample), None)
    yield w
    w.undo_stack.setClean()  # nothing to save: closing must not ask
    w.close()
    w.deleteLater()


def test_edit_updates_model_trades_and_risk_panel(qtbot, window) -> None:
    card = window.risk_tab.cards.cards["volatility"]
    old_text = card.before_text
    with qtbot.waitSignal(window.controller.riskReady, timeout=60_000) as blocker:
        assert window.model.setData(window.model.index(0, QTY), "600")
    report = blocker.args[0]
    assert window.model.holding(0).quantity == 600.0
    # The Holdings tab is showing: the hidden tabs keep their results until they are shown.
    assert window.deferred.pending(window.risk_tab) and card.before_text == old_text
    window.tabs.setCurrentWidget(window.risk_tab)
    assert not window.deferred.pending(window.risk_tab)
    assert card.before_text == card.spec.fmt(report.before.metrics.volatility) != old_text
    window.tabs.setCurrentWidget(window.rebalance_tab)
    shown = [window.rebalance_tab.model.row_object(r) for r in range(window.rebalance_tab.model.rowCount())]
    expected = service.rebalance(RebalanceRequest(portfolio=window.model.portfolio(),
                                                  policy=window.settings_model.policy)).trades
    assert shown == expected
    assert next(t for t in shown if t.symbol == "SPY").action == "SELL"
    assert window.isWindowModified()


def test_undo_redo_actions_and_shortcuts(qtbot, window, sample) -> None:
    window.model.setData(window.model.index(1, QTY), "1")
    assert next(s.toString() for s in window.redo_action.shortcuts()) == "Ctrl+Shift+Z"
    assert window.undo_action.shortcut().toString() == "Ctrl+Z"
    window.undo_action.trigger()
    assert window.model.portfolio() == sample and not window.isWindowModified()
    window.redo_action.trigger()
    assert window.model.holding(1).quantity == 1.0


def test_policy_edit_is_undoable_and_recomputes(qtbot, window) -> None:
    with qtbot.waitSignal(window.controller.rebalanceReady, timeout=60_000) as blocker:
        window.policy_panel.cost_bps.setValue(50.0)
    assert window.settings_model.policy.cost_bps == 50.0
    assert all(t.cost_bps == 50.0 for t in blocker.args[0].trades)
    window.undo_stack.undo()
    assert window.settings_model.policy.cost_bps == 10.0 and window.policy_panel.cost_bps.value() == 10.0


def test_api_stops_when_the_window_closes(qtbot, window, monkeypatch) -> None:
    with qtbot.waitSignal(window.api.started, timeout=30_000):
        window.api.toggle_action.trigger()
    assert window.api_label.text() == f"API on {window.api.url}"
    server = window.api.server
    window.model.setData(window.model.index(1, QTY), "2")  # modified: closing asks first
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.close()
    assert not server.running and not window.api.running


def _distinct_colours(path: Path) -> int:
    image = QImage(str(path))
    step_x, step_y = max(1, image.width() // 80), max(1, image.height() // 60)
    return len({image.pixel(x, y) for x in range(0, image.width(), step_x) for y in range(0, image.height(), step_y)})


def test_screenshots_are_written_and_not_blank(qtbot, tmp_path) -> None:
    assert main(["--screenshot", str(tmp_path)]) == 0
    files = sorted(tmp_path.glob("*.png"))
    assert [f.name for f in files] == ["01-holdings.png", "02-rebalance.png", "03-risk.png", "04-monte-carlo.png",
                                       "05-scenarios.png", "06-ai-targets.png", "07-pipeline.png", "08-backtest.png",
                                       "09-audit.png"]
    for f in files:
        image = QImage(str(f))
        assert (image.width(), image.height()) == SCREENSHOT_SIZE
        assert _distinct_colours(f) > 20, f.name


def test_smoke_mode_exits_zero(qtbot, tmp_path) -> None:
    png = tmp_path / "smoke.png"
    assert main(["--smoke", str(png)]) == 0
    assert QImage(str(png)).width() > 0


def test_start_up_work_waits_for_the_first_paint(qtbot, qsettings, tmp_path, monkeypatch) -> None:
    """The first document and the warm-up (engine, catalogue) start once the window has painted."""
    from desktop.app import SAMPLE_ID, open_first_document

    w = build_window(qsettings, tmp_path / "autosave", debounce_ms=10)
    opened: list[str] = []
    monkeypatch.setattr(w.documents, "open_startup", lambda sample_id: opened.append(sample_id))
    open_first_document(w, None, ask_recovery=False)
    assert not w.first_paint.open and not opened and not w.warm and w.holdings_panel.symbol_delegate.completions == []
    w.show()
    with qtbot.waitSignal(w.warmedUp, timeout=60_000):
        pass
    assert w.first_paint.open and opened == [SAMPLE_ID] and w.warm
    assert "SPY" in w.holdings_panel.symbol_delegate.completions
    w.undo_stack.setClean()
    w.close()
    w.deleteLater()
