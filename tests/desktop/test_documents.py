"""Documents: save/open round trip, modified state, recent files, autosave and recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QUndoStack

from desktop.documents import DocumentManager
from desktop.holdings_model import KEYS, HoldingsModel
from desktop.policy_panel import SettingsModel
from engine.document import Document, load_document
from engine.schemas import Band, RebalancePolicy

QTY = KEYS.index("quantity")


def _manager(qsettings, tmp_path: Path, portfolio) -> DocumentManager:
    stack = QUndoStack()
    model = HoldingsModel(portfolio, stack)
    manager = DocumentManager(model, SettingsModel(), stack, qsettings, tmp_path / "autosave", autosave_ms=3_600_000)
    manager._keep = (stack, model)  # keep the Python wrappers alive with the manager
    return manager


@pytest.fixture
def manager(qsettings, tmp_path, sample) -> DocumentManager:
    m = _manager(qsettings, tmp_path, sample)
    m.apply(Document(portfolio=sample), None)
    return m


def test_save_open_round_trip(qtbot, manager, qsettings, tmp_path, sample) -> None:
    manager.holdings.setData(manager.holdings.index(0, QTY), "321")
    policy = RebalancePolicy(band=Band(kind="relative", width=0.2), cost_bps=5.0)
    manager.settings.apply("policy", policy)
    path = tmp_path / "client.rebal.json"
    manager.save_as(path)
    assert not manager.is_modified() and manager.path == path
    assert manager.recent_files()[0] == str(path)

    other = _manager(qsettings, tmp_path, sample)
    with qtbot.waitSignal(other.loaded, timeout=30_000):
        other.open(path)
    assert other.holdings.portfolio() == manager.holdings.portfolio()
    assert other.holdings.portfolio().holdings[0].quantity == 321.0
    assert other.settings.policy == policy and other.path == path and not other.is_modified()


def test_modified_follows_the_undo_stack(manager) -> None:
    seen = []
    manager.modifiedChanged.connect(seen.append)
    manager.holdings.setData(manager.holdings.index(0, QTY), "200")
    assert manager.is_modified() and seen[-1] is True
    manager.undo.undo()
    assert not manager.is_modified() and seen[-1] is False


def test_open_refuses_a_bad_file_and_changes_nothing(qtbot, manager, tmp_path, sample) -> None:
    bad = tmp_path / "bad.rebal.json"
    bad.write_text('{"format": "smart-portfolio-rebalancer/portfolio", "version": 1, "portfolio": {"holdings": '
                   '[{"symbol": "A", "asset_class": "etf", "quantity": -1, "price": 1, "target_weight": 1}]}}',
                   encoding="utf-8")
    with qtbot.waitSignal(manager.failed, timeout=30_000) as failed:
        manager.open(bad)
    assert failed.args == ["Input should be greater than or equal to 0 (portfolio.0.quantity)"]
    assert manager.holdings.portfolio() == sample and manager.path is None


def test_autosave_and_recovery_after_a_crash(qtbot, qsettings, tmp_path, sample, manager) -> None:
    path = tmp_path / "client.rebal.json"
    manager.save_as(path)
    assert manager.autosave() is None  # nothing unsaved, nothing written
    manager.holdings.setData(manager.holdings.index(2, QTY), "999")
    written = manager.autosave()
    assert written is not None and load_document(written).portfolio.holdings[2].quantity == 999.0
    # The process dies here: no close_cleanly. A new session finds the autosave.
    fresh = _manager(qsettings, tmp_path, sample)
    assert fresh.recovery_available()
    with qtbot.waitSignal(fresh.loaded, timeout=30_000):
        fresh.recover()
    assert fresh.holdings.portfolio().holdings[2].quantity == 999.0
    assert fresh.is_modified() and fresh.path == path  # still unsaved, attached to its file
    fresh.save_as(path)
    assert not fresh.recovery_available() and load_document(path).portfolio.holdings[2].quantity == 999.0


def test_clean_close_leaves_no_recovery_and_remembers_the_document(qsettings, manager, tmp_path) -> None:
    path = tmp_path / "client.rebal.json"
    manager.save_as(path)
    manager.holdings.setData(manager.holdings.index(0, QTY), "1")
    manager.autosave()
    manager.close_cleanly()
    assert not manager.recovery_available()
    assert qsettings.value("lastDocument") == str(path)
