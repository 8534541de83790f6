"""The Audit tab: the log in a table model, filter by kind, verify (and catch tampering), export CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
from pathlib import Path

import pytest

from desktop.panels.audit_tab import AuditTab, flagged_seqs, payload_summary
from desktop.panels.formatting import BANNER_STYLES
from engine.audit import AuditLog

TIMEOUT = 30_000


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """A small log with the entries a real approval leaves (payloads as the engine writes them)."""
    path = tmp_path / "audit.sqlite3"
    with AuditLog(path) as log:
        log.append("pipeline_run_started", {"run_id": "R1", "portfolio": "Classic 60/40", "n_holdings": 2,
                                            "value": 99904.61, "use_ai_targets": True}, subject="R1", user="ana")
        log.append("pipeline_stage", {"run_id": "R1", "stage": "forecast", "status": "ok", "duration_ms": 2204.3,
                                      "warnings": ["no measured skill"], "error": None}, subject="R1", user="ana")
        log.append("pipeline_run_completed", {"run_id": "R1", "status": "awaiting_approval", "n_trades": 2,
                                              "turnover": 0.0591, "target_source": "optimised",
                                              "failed_controls": []}, subject="R1", user="ana")
        log.append("approval", {"run_id": "R1", "note": "Back to policy", "status": "approved", "n_trades": 2,
                                "execution": {"simulated_cost": 13.34}}, subject="R1", user="ben")
    return path


def loaded_tab(qtbot, path: Path | None) -> AuditTab:
    tab = AuditTab(audit_path=path, user=lambda: "carla")
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=TIMEOUT):
        tab.refresh()
    return tab


def column(tab: AuditTab, col: int, role: int = 0) -> list:
    return [tab.proxy.index(r, col).data(role) for r in range(tab.proxy.rowCount())]


def test_the_table_shows_every_entry_newest_first(qtbot, log_path, qtmodeltester) -> None:
    tab = loaded_tab(qtbot, log_path)
    assert column(tab, 0, 256) == [4, 3, 2, 1]
    assert column(tab, 2) == ["ben", "ana", "ana", "ana"]
    assert column(tab, 3, 256) == ["approval", "pipeline_run_completed", "pipeline_stage", "pipeline_run_started"]
    assert column(tab, 3)[0] == "Approval"
    assert column(tab, 5)[0] == "“Back to policy” · 2 trades · simulated cost $13.34"
    assert tab.count_label.text() == "4 entries"
    qtmodeltester.check(tab.model)


def test_filter_by_kind_is_exact(qtbot, log_path) -> None:
    tab = loaded_tab(qtbot, log_path)
    tab.set_kind("pipeline_stage")
    assert column(tab, 0, 256) == [2]
    assert tab.count_label.text() == "1 of 4 entries"
    tab.kind_combo.setCurrentIndex(tab.kind_combo.findData("approval"))
    assert column(tab, 0, 256) == [4]
    tab.set_kind("")
    assert tab.proxy.rowCount() == 4


def test_selecting_an_entry_shows_its_payload_and_hashes(qtbot, log_path) -> None:
    tab = loaded_tab(qtbot, log_path)
    tab.view.selectRow(0)
    with AuditLog(log_path) as log:
        last = log.entries()[-1]
    assert last.hash in tab.detail.toPlainText() and '"note": "Back to policy"' in tab.detail.toPlainText()


def test_verify_reports_ok_then_the_tampered_entry(qtbot, log_path) -> None:
    tab = loaded_tab(qtbot, log_path)
    with qtbot.waitSignal(tab.loaded, timeout=TIMEOUT), qtbot.waitSignal(tab.verified, timeout=TIMEOUT) as blocker:
        tab.verify_button.click()  # verifying reloads the rows too
    assert blocker.args[0].ok and blocker.args[0].entries == 4
    assert "Verified OK" in tab.verify_label.text() and "all 4 entries" in tab.verify_label.text()

    conn = sqlite3.connect(str(log_path), isolation_level=None)  # what an attacker with file access could do
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("UPDATE audit_log SET user = 'mallory' WHERE seq = 2")
    conn.close()
    with qtbot.waitSignal(tab.loaded, timeout=TIMEOUT), qtbot.waitSignal(tab.verified, timeout=TIMEOUT) as blocker:
        tab.verify()
    result = blocker.args[0]
    assert not result.ok and result.problems == ["entry 2: content does not match its hash (edited)"]
    assert "Verification FAILED" in tab.verify_label.text() and result.problems[0] in tab.verify_label.text()
    assert tab.verify_label.styleSheet() == BANNER_STYLES["error"]  # red
    assert tab.model.flagged == {2}
    row = column(tab, 0, 256).index(2)
    assert tab.proxy.index(row, 2).data() == "mallory"
    assert tab.proxy.index(row, 2).data(9).name() == "#b3261e"  # ForegroundRole


def test_export_writes_exactly_the_engine_csv_and_logs_it(qtbot, log_path, tmp_path) -> None:
    with AuditLog(log_path) as log:
        expected = log.export_csv()
    target = tmp_path / "out" / "audit.csv"
    target.parent.mkdir()
    target.write_text("old contents", encoding="utf-8")
    tab = loaded_tab(qtbot, log_path)
    with qtbot.waitSignal(tab.exported, timeout=TIMEOUT) as blocker, qtbot.waitSignal(tab.loaded, timeout=TIMEOUT):
        tab.export_csv(target)
    assert target.read_bytes() == expected.encode("utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["audit.csv"]  # no temporary file left
    done = blocker.args[0]
    assert done.entries == 4 == len(list(csv.reader(io.StringIO(expected)))) - 1
    assert done.sha256 == hashlib.sha256(expected.encode("utf-8")).hexdigest()
    with AuditLog(log_path) as log:
        last = log.entries()[-1]
        assert log.verify().ok
    assert (last.kind, last.user, last.subject) == ("export", "carla", "audit.csv")
    assert last.payload == {"path": str(target), "entries": 4, "sha256": done.sha256, "format": "csv"}
    assert column(tab, 3, 256)[0] == "export"


def test_default_log_is_the_data_directory(qtbot, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REBALANCER_DATA_DIR", str(tmp_path / "data"))
    with AuditLog() as log:
        log.append("config_change", {"field": "band", "value": 0.05}, user="ana")
    tab = loaded_tab(qtbot, None)
    assert column(tab, 5) == ["field=band, value=0.05"]
    assert (tmp_path / "data" / "audit.sqlite3").exists()


def test_payload_summaries_and_flagged_entries() -> None:
    assert payload_summary("pipeline_stage", {"stage": "forecast", "status": "ok", "duration_ms": 2204.3,
                                              "warnings": ["x"], "error": None}) \
        == "forecast ok in 2,204.3 ms · 1 warning(s)"
    assert payload_summary("pipeline_run_failed", {"stage": "market_data", "type": "InsufficientData",
                                                   "message": "no history"}) \
        == "stage market_data: InsufficientData: no history"
    assert payload_summary("pipeline_run_incomplete", {"pid": 42, "last_stage": "risk"}) \
        == "process 42 stopped after stage risk"
    assert payload_summary("model_change", {"action": "promotion_refused", "name": "ensemble", "version": 2,
                                            "reason": "IC not better"}) \
        == "promotion refused ensemble v2 · reason IC not better"
    assert flagged_seqs(["entries 3..4 are missing (deleted)", "entry 5: does not link to the entry before it",
                         "entry 9: content does not match its hash (edited)"]) == {5, 9}
