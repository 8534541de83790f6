"""The Pipeline tab: a real pipeline run on a bundled sample, its record on screen, approval and rejection."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.panels.audit_tab import AuditTab
from desktop.panels.pipeline_tab import PipelineTab
from engine import service
from engine.audit import AuditLog
from engine.pipeline.definition import STAGES
from engine.pipeline.store import RunStore

TIMEOUT = 60_000  # ms; a first run computes the walk-forward skill on a contended CI core


@pytest.fixture(scope="module")
def p1():
    return service.sample_portfolio("P1_CLASSIC_60_40")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    # One store for the module: the walk-forward skill is cached after the first run.
    return tmp_path_factory.mktemp("pipeline-data")


def make_tab(qtbot, data: Path, portfolio, **extra) -> PipelineTab:
    tab = PipelineTab(lambda: {"portfolio": portfolio, **extra}, runs_path=data / "pipeline.sqlite3",
                      audit_path=data / "audit.sqlite3")
    qtbot.addWidget(tab)
    return tab


def run(qtbot, tab: PipelineTab):
    with qtbot.waitSignal(tab.runFinished, timeout=TIMEOUT) as blocker:
        tab.run_button.click()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=TIMEOUT)
    return blocker.args[0]


def stored(data: Path, run_id: str):
    with AuditLog(data / "audit.sqlite3") as audit, RunStore(data / "pipeline.sqlite3", audit) as store:
        return store.get(run_id)


def test_run_shows_the_seven_stages_of_the_record(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1)
    record = run(qtbot, tab)
    assert record == stored(data, record.run_id)
    assert record.status == "awaiting_approval"
    rows = tab.timeline.stage_rows()
    assert [r[0] for r in rows] == [f"{i + 1}. {s.agent}" for i, s in enumerate(STAGES)]
    assert [r[1] for r in rows] == [s.status for s in record.stages] == ["ok"] * 7
    assert [s.name for s in record.stages] == [s.name for s in STAGES]
    key = [tab.timeline.topLevelItem(i).text(3) for i in range(7)]
    assert key[0] == record.stages[0].decisions[0]
    assert key[6] == record.stages[6].decisions[-1]
    assert tab.approve_button.isEnabled() and tab.reject_button.isEnabled()
    assert "Awaiting approval" in tab.status_label.text()


def test_targets_controls_and_skill_equal_the_record(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1)
    record = run(qtbot, tab)
    m = tab.targets_model
    chosen = {m.index(r, 0).data(256): m.index(r, 2).data(256) for r in range(m.rowCount())}
    strategic = {m.index(r, 0).data(256): m.index(r, 1).data(256) for r in range(m.rowCount())}
    assert chosen == record.targets
    assert strategic == {"SPY": 0.6, "AGG": 0.4}
    forecast = {a.symbol: a.expected_return for a in record.forecast.assets}
    assert [m.index(r, 4).data(256) for r in range(m.rowCount())] == [forecast["SPY"], forecast["AGG"]]
    c = tab.controls_model
    assert [c.row_object(r) for r in range(c.rowCount())] == record.controls.results
    assert [c.index(r, 1).data() for r in range(c.rowCount())] == [x.status.upper() for x in record.controls.results]
    # The skill verdict sits beside the forecast figures, in the engine's words.
    assert not tab.skill_label.isHidden()
    assert record.skill.verdict[1:] in tab.skill_label.text()
    assert record.target_reason in tab.optimiser_label.text()


def test_approve_without_a_note_is_refused_at_the_field(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1)
    record = run(qtbot, tab)
    tab.note_edit.setPlainText("   ")
    with qtbot.waitSignal(tab.decisionRefused, timeout=TIMEOUT) as blocker:
        tab.approve_button.click()
    assert "a decision needs a note saying why" in blocker.args[0]
    assert tab.note_error.text() == "a decision needs a note saying why" and not tab.note_error.isHidden()
    assert tab.message_label.isHidden()  # said at the field, not in a banner
    assert stored(data, record.run_id).status == "awaiting_approval"
    assert tab.approve_button.isEnabled()


def test_approve_with_a_note_updates_the_run_and_the_audit_tab(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1)
    record = run(qtbot, tab)
    tab.user_edit.setText("ana")
    tab.note_edit.setPlainText("Back to the 60/40 policy mix before quarter end.")
    with qtbot.waitSignal(tab.decided, timeout=TIMEOUT) as blocker:
        tab.approve_button.click()
    decided = blocker.args[0]
    assert decided == stored(data, record.run_id)
    assert decided.status == "approved" and decided.decision.user == "ana"
    assert decided.decision.note == "Back to the 60/40 policy mix before quarter end."
    assert "Approved" in tab.status_label.text() and "Approved" in tab.decision_label.text()
    fills = decided.execution.totals.n_fills
    assert f"{fills} fills" in tab.execution_label.text()
    assert not tab.approve_button.isEnabled() and not tab.reject_button.isEnabled()
    assert tab.note_edit.toPlainText() == ""

    audit = AuditTab(audit_path=data / "audit.sqlite3")
    qtbot.addWidget(audit)
    with qtbot.waitSignal(audit.loaded, timeout=TIMEOUT):
        audit.refresh()
    audit.set_kind("approval")
    rows = [audit.proxy.index(r, 4).data() for r in range(audit.proxy.rowCount())]
    assert record.run_id in rows
    row = rows.index(record.run_id)
    assert audit.proxy.index(row, 2).data() == "ana"
    assert "Back to the 60/40 policy mix" in audit.proxy.index(row, 5).data()


def test_reject_records_the_note(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1)
    record = run(qtbot, tab)
    tab.note_edit.setPlainText("Client asked to wait.")
    with qtbot.waitSignal(tab.decided, timeout=TIMEOUT) as blocker:
        tab.reject_button.click()
    assert blocker.args[0].status == "rejected" == stored(data, record.run_id).status
    assert blocker.args[0].execution is None and tab.execution_label.text() == ""
    assert "Rejected" in tab.decision_label.text()


def test_a_blocked_run_cannot_be_approved(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1, controls={"max_turnover": 0.001})
    record = run(qtbot, tab)
    assert record.status == "blocked"
    assert not tab.approve_button.isEnabled() and not tab.reject_button.isEnabled()
    c = tab.controls_model
    result = {c.index(r, 0).data(256): c.index(r, 1).data() for r in range(c.rowCount())}
    assert result["max_turnover"] == "FAIL"
    assert "Blocked: hard control failed (Maximum turnover" in tab.decision_hint.text()


def test_cancel_ends_the_run_failed_before_the_last_stage(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1)
    with qtbot.waitSignal(tab.runFinished, timeout=TIMEOUT) as blocker:
        tab.run()
        tab.cancel()
    record = blocker.args[0]
    assert record.status == "failed" and record.error.type == "Cancelled"
    assert len(record.stages) < 7
    assert [r[1] for r in tab.timeline.stage_rows()][len(record.stages):] == ["not run"] * (7 - len(record.stages))


def test_an_invalid_request_is_reported_and_creates_no_run(qtbot, data, p1) -> None:
    tab = make_tab(qtbot, data, p1, controls={"max_turnover": 7})
    with qtbot.waitSignal(tab.failed, timeout=TIMEOUT) as blocker:
        tab.run_button.click()
    assert "max_turnover" in blocker.args[0]
    assert not tab.message_label.isHidden()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=TIMEOUT)


def test_past_runs_reopen_from_the_default_data_dir(qtbot, data, p1, monkeypatch) -> None:
    monkeypatch.setenv("REBALANCER_DATA_DIR", str(data))
    tab = PipelineTab(lambda: {"portfolio": p1})
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.runsListed, timeout=TIMEOUT) as blocker:
        tab.refresh_runs_button.click()
    runs = blocker.args[0]
    assert [s.run_id for s in runs] == [s.run_id for s in service.list_runs(limit=200)]
    assert tab.runs_combo.count() == len(runs) >= 2
    with qtbot.waitSignal(tab.runShown, timeout=TIMEOUT) as shown:
        tab.runs_combo.activated.emit(1)
    assert shown.args[0] == service.get_run(runs[1].run_id)
    assert runs[1].run_id in tab.status_label.text()
