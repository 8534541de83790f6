"""The governed pipeline: stages in declared order, records, controls, approval, audit, crash safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine import service
from engine.audit import AuditLog
from engine.errors import InvalidRequest
from engine.forecast import forecast
from engine.market_data import load_sample_portfolio, portfolio_returns
from engine.pipeline.approval import ApprovalRefused, approve, reject
from engine.pipeline.definition import STAGES
from engine.pipeline.runner import PipelineContext, StageResult, execute
from engine.pipeline.stages import with_targets
from engine.pipeline.store import Owner, RunNotFound, RunStore, current_owner, owner_alive
from engine.rebalance import rebalance
from engine.risk_report import risk_report
from engine.schemas import Holding, Portfolio
from engine.schemas.pipeline import PipelineRequest, RunRecord

REPO = Path(__file__).resolve().parents[2]
STAGE_NAMES = [s.name for s in STAGES]


@pytest.fixture(scope="module")
def p1() -> Portfolio:
    return load_sample_portfolio("P1_CLASSIC_60_40")


@pytest.fixture
def store(tmp_path: Path):
    with RunStore(tmp_path / "runs.sqlite3", AuditLog(tmp_path / "audit.sqlite3")) as s:
        yield s


def kinds(store: RunStore, run_id: str) -> list[str]:
    return [e.kind for e in store.audit.entries(subject=run_id)]


# --- a full run ------------------------------------------------------------------------------
def test_full_run_records_every_declared_stage_in_order(p1: Portfolio, store: RunStore) -> None:
    record = execute(PipelineRequest(portfolio=p1), store, user="ana")
    assert record.status == "awaiting_approval"
    assert [s.name for s in record.stages] == STAGE_NAMES == [
        "supervisor", "market_data", "forecast", "risk", "optimizer", "execution", "supervisor_approval"]
    assert [s.agent for s in record.stages] == [s.agent for s in STAGES]
    assert all(s.status == "ok" and s.duration_ms > 0 and s.outputs and s.decisions for s in record.stages)
    starts = [s.started_at for s in record.stages]
    assert starts == sorted(starts)
    for spec, stage in zip(STAGES, record.stages, strict=True):  # inputs summarised by their declared names
        assert list(stage.input_summary) == list(spec.inputs)
    assert record.duration_ms is not None and record.duration_ms >= sum(s.duration_ms for s in record.stages) * 0.99
    assert store.get(record.run_id) == record  # what was returned is what was stored
    json.dumps(record.model_dump(mode="json"), allow_nan=False)  # the record is plain JSON

    data = record.stages[1].outputs  # the data agent: P1's real common window (SPY and AGG, daily)
    assert (data["n_periods"], data["start"], data["end"]) == (2495, "2006-11-02", "2016-09-30")
    assert record.stages[0].outputs["value"] == pytest.approx(sum(h.quantity * h.price for h in p1.holdings))


def test_stages_wrap_the_engine_functions(p1: Portfolio, store: RunStore) -> None:
    """Each stage's result is what calling the engine function directly gives."""
    request = PipelineRequest(portfolio=p1)
    record = execute(request, store)
    frame = portfolio_returns(p1)
    assert record.forecast == forecast(frame, settings=request.forecast)
    assert record.risk_before == risk_report(p1, frame, request.risk).before.metrics
    assert record.target_source == "optimised" and record.optimisation is not None
    assert record.targets == record.optimisation.weights
    assert sum(record.targets.values()) == pytest.approx(1.0, abs=1e-9)
    assert record.proposal == rebalance(with_targets(p1, record.targets), request.policy)
    after = risk_report(p1, frame, request.risk, record.proposal.post_trade_weights).after
    assert after is not None and record.risk_after == after.metrics
    assert record.controls is not None and record.controls.approvable
    assert record.stages[5].outputs["cost_estimate"]["commission"] == pytest.approx(record.proposal.totals.total_cost)


def test_strategic_targets_when_ai_targets_are_off(p1: Portfolio, store: RunStore) -> None:
    request = PipelineRequest(portfolio=p1, use_ai_targets=False)
    record = execute(request, store)
    assert record.target_source == "strategic" and record.optimisation is None
    assert record.targets == {h.symbol: h.target_weight for h in p1.holdings}
    assert "use_ai_targets" in (record.target_reason or "")
    assert record.stages[4].outputs["status"] == "skipped"
    assert record.proposal == rebalance(p1, request.policy)


def test_required_skill_keeps_strategic_targets_when_none_is_measured(p1: Portfolio, store: RunStore) -> None:
    record = execute(PipelineRequest(portfolio=p1, require_skill=True), store)
    # Two assets give no cross-sectional IC: the walk-forward verdict is 'undetermined'.
    assert record.skill is not None and record.skill.skill == "undetermined"
    assert record.target_source == "strategic" and "skill is required" in (record.target_reason or "")
    assert any("no measured out-of-sample skill" in w for w in record.stages[2].warnings)


def test_walk_forward_skill_is_cached_by_data_and_parameters(p1: Portfolio, store: RunStore) -> None:
    first = execute(PipelineRequest(portfolio=p1), store)
    second = execute(PipelineRequest(portfolio=p1), store)
    assert first.stages[2].outputs["skill"]["cached"] is False
    assert second.stages[2].outputs["skill"]["cached"] is True
    assert second.skill == first.skill
    other = execute(PipelineRequest(portfolio=p1, forecast={"short_window": 10}), store)
    assert other.stages[2].outputs["skill"]["cached"] is False  # new parameters, new evaluation


# --- controls and approval ---------------------------------------------------------------------
def _sold(record: RunRecord) -> str:
    assert record.proposal is not None
    sells = [t.symbol for t in record.proposal.trades if t.action == "SELL"]
    assert sells, "the proposal has no SELL to restrict"
    return sells[0]


def test_a_failed_hard_control_blocks_the_run(p1: Portfolio, store: RunStore) -> None:
    sold = _sold(execute(PipelineRequest(portfolio=p1), store))
    record = execute(PipelineRequest(portfolio=p1, controls={"do_not_sell": [sold]}), store)
    assert record.status == "blocked"
    assert record.controls is not None and not record.controls.approvable
    failed = [r for r in record.controls.results if r.status == "fail"]
    assert [r.control for r in failed] == ["restricted_list"] and f"SELL {sold}" in failed[0].reason
    assert record.stages[-1].outputs["decision"] == "blocked"
    with pytest.raises(ApprovalRefused, match="blocked"):
        approve(store, record.run_id, user="ana", note="looks fine")
    with pytest.raises(ApprovalRefused):
        reject(store, record.run_id, user="ana", note="no")
    assert store.get(record.run_id).status == "blocked"
    assert kinds(store, record.run_id)[-1] == "pipeline_run_completed"


@pytest.mark.parametrize(("user", "note", "locs"), [
    ("ana", "", [["note"]]), ("ana", "   ", [["note"]]), ("", "ok", [["user"]]), (" ", None, [["user"], ["note"]]),
])
def test_a_decision_needs_a_user_and_a_note(p1: Portfolio, store: RunStore, user: str, note: str | None,
                                            locs: list) -> None:
    record = execute(PipelineRequest(portfolio=p1), store)
    for decide in (approve, reject):
        with pytest.raises(InvalidRequest) as info:
            decide(store, record.run_id, user=user, note=note)  # type: ignore[arg-type]
        assert [d["loc"] for d in info.value.details] == locs
    assert store.get(record.run_id).status == "awaiting_approval"


def test_approval_records_the_decision_and_simulated_execution(p1: Portfolio, store: RunStore) -> None:
    from engine.execution import simulate_execution

    record = execute(PipelineRequest(portfolio=p1), store, user="ana")
    approved = approve(store, record.run_id, user="bea", note="  tilt agreed with client  ")
    assert approved.status == "approved"
    assert approved.decision is not None
    assert (approved.decision.action, approved.decision.user, approved.decision.note) == (
        "approve", "bea", "tilt agreed with client")
    assert record.proposal is not None
    assert approved.execution == simulate_execution(record.proposal, record.request.execution)
    assert approved.execution.totals.n_fills == record.proposal.totals.n_trades
    assert store.get(record.run_id) == approved
    with pytest.raises(ApprovalRefused, match="already approved"):
        approve(store, record.run_id, user="bea", note="again")
    with pytest.raises(ApprovalRefused):
        reject(store, record.run_id, user="bea", note="changed my mind")


def test_rejection_is_recorded_and_final(p1: Portfolio, store: RunStore) -> None:
    record = execute(PipelineRequest(portfolio=p1), store)
    rejected = reject(store, record.run_id, user="bea", note="client wants no trades this quarter")
    assert rejected.status == "rejected" and rejected.execution is None
    assert rejected.decision is not None and rejected.decision.action == "reject"
    with pytest.raises(ApprovalRefused, match="already rejected"):
        approve(store, record.run_id, user="bea", note="ok after all")
    entry = store.audit.entries(subject=record.run_id)[-1]
    assert (entry.kind, entry.user, entry.payload["note"]) == ("rejection", "bea", "client wants no trades this quarter")


def test_audit_trail_of_a_run_and_its_approval(p1: Portfolio, store: RunStore) -> None:
    record = execute(PipelineRequest(portfolio=p1), store, user="ana")
    approve(store, record.run_id, user="bea", note="ok")
    entries = store.audit.entries(subject=record.run_id)
    assert [e.kind for e in entries] == (
        ["pipeline_run_started"] + ["pipeline_stage"] * 7 + ["pipeline_run_completed", "approval"])
    assert [e.payload["stage"] for e in entries[1:8]] == STAGE_NAMES
    assert [e.user for e in entries] == ["ana"] * 9 + ["bea"]
    assert entries[-2].payload["status"] == "awaiting_approval"
    assert entries[-1].payload["execution"]["n_fills"] == record.proposal.totals.n_trades  # type: ignore[union-attr]
    assert store.audit.verify().ok


# --- failures ----------------------------------------------------------------------------------
class Boom:
    def run(self, context: PipelineContext) -> StageResult:
        raise ValueError("covariance exploded")


class Forgetful:
    def run(self, context: PipelineContext) -> StageResult:
        return StageResult({"ok": True}, {"risk_report": None}, ["did half the job"])


@pytest.mark.parametrize(("stage", "message"), [(Boom(), "covariance exploded"),
                                            (Forgetful(), "declared outputs not produced: covariance")])
def test_a_failing_stage_fails_the_run_with_its_name_and_message(p1: Portfolio, store: RunStore, stage: object,
                                                                 message: str) -> None:
    record = execute(PipelineRequest(portfolio=p1), store, overrides={"risk": stage})  # type: ignore[dict-item]
    assert record.status == "failed"
    assert record.error is not None and (record.error.stage, record.error.message) == ("risk", message)
    assert [s.status for s in record.stages] == ["ok", "ok", "ok", "failed"]
    assert message in (record.stages[-1].error or "")
    assert store.get(record.run_id) == record
    assert kinds(store, record.run_id)[-2:] == ["pipeline_stage", "pipeline_run_failed"]
    assert store.audit.verify().ok
    with pytest.raises(ApprovalRefused):
        approve(store, record.run_id, user="ana", note="ok")


def test_the_supervisor_refuses_a_book_with_no_value(store: RunStore) -> None:
    empty = Portfolio(holdings=[Holding(symbol="SPY", asset_class="etf", quantity=0.0, price=100.0, target_weight=1.0)])
    record = execute(PipelineRequest(portfolio=empty), store)
    assert record.status == "failed" and record.error is not None
    assert (record.error.stage, record.error.type) == ("supervisor", "InvalidRequest")
    assert record.error.details[0]["loc"] == ["portfolio"]


def test_cancel_before_a_stage_fails_the_run(p1: Portfolio, store: RunStore) -> None:
    seen: list[str] = []
    record = execute(PipelineRequest(portfolio=p1), store, on_stage=lambda name, i, n: seen.append(name),
                     cancel=lambda: len(seen) >= 2)
    assert seen == ["supervisor", "market_data"]
    assert record.status == "failed" and record.error is not None
    assert (record.error.stage, record.error.type) == ("forecast", "Cancelled")


class Interrupted(BaseException):
    """Like KeyboardInterrupt: not an Exception, so no stage catches it."""


def test_an_interrupted_run_is_not_left_running(p1: Portfolio, store: RunStore) -> None:
    def interrupt(name: str, index: int, total: int) -> None:
        if name == "execution":
            raise Interrupted

    with pytest.raises(Interrupted):
        execute(PipelineRequest(portfolio=p1), store, on_stage=interrupt)
    (summary,) = store.list()
    record = store.get(summary.run_id)
    assert record.status == "failed" and record.error is not None
    assert (record.error.stage, record.error.type) == ("execution", "Interrupted")
    assert len(record.stages) == 5
    assert kinds(store, record.run_id)[-1] == "pipeline_run_failed"


# --- crash safety ------------------------------------------------------------------------------
KILLED_RUN = textwrap.dedent("""
    import sys
    from engine.audit import AuditLog
    from engine.market_data import load_sample_portfolio
    from engine.pipeline.runner import execute
    from engine.pipeline.store import RunStore
    from engine.schemas.pipeline import PipelineRequest

    def hold(name, index, total):
        if name == "optimizer":
            print("blocked", flush=True)
            sys.stdin.readline()  # never answered: the parent kills this process here

    store = RunStore(sys.argv[1], AuditLog(sys.argv[2]))
    execute(PipelineRequest(portfolio=load_sample_portfolio("P1_CLASSIC_60_40")), store, user="ana", on_stage=hold)
""")


def test_a_run_killed_mid_way_is_marked_incomplete_and_the_log_verifies(tmp_path: Path) -> None:
    runs, audit = tmp_path / "runs.sqlite3", tmp_path / "audit.sqlite3"
    with subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(runs), str(audit)], cwd=REPO,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "blocked"
        with RunStore(runs, AuditLog(audit)) as alive:  # its owner is alive: left running
            assert alive.recovered == []
            (summary,) = alive.list()
            assert summary.status == "running"
        proc.kill()
        proc.wait()
    with RunStore(runs, AuditLog(audit)) as store:
        assert store.recovered == [summary.run_id]
        record = store.get(summary.run_id)
        assert record.status == "incomplete"
        assert [s.name for s in record.stages] == STAGE_NAMES[:4]
        assert f"pid {proc.pid}" in record.warnings[-1] and "last completed stage: risk" in record.warnings[-1]
        assert kinds(store, record.run_id) == (
            ["pipeline_run_started"] + ["pipeline_stage"] * 4 + ["pipeline_run_incomplete"])
        assert store.audit.verify().ok
    with RunStore(runs, AuditLog(audit)) as again:  # marked once only
        assert again.recovered == []
        assert len(again.audit) == 8  # started, 2 model_change (register, evaluate), 4 stages, incomplete


def test_owner_identity_survives_pid_reuse(tmp_path: Path) -> None:
    me = current_owner()
    assert owner_alive(me)
    if me.token:  # Linux: the same pid with another start time is another process
        assert not owner_alive(Owner(me.pid, "1"))
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    assert not owner_alive(Owner(int(done.stdout), ""))


# --- service functions ---------------------------------------------------------------------------
def test_service_validates_and_lists_runs(p1: Portfolio, store: RunStore) -> None:
    with pytest.raises(InvalidRequest) as info:
        service.run_pipeline({"portfolio": p1.model_dump(mode="json"), "use_ai_targets": "yes"}, store=store)
    assert [d["loc"] for d in info.value.details] == [["use_ai_targets"]]
    assert len(store) == 0  # an invalid request creates no run
    first = service.run_pipeline({"portfolio": p1.model_dump(mode="json"), "label": "first"}, store=store, user="ana")
    second = service.run_pipeline(PipelineRequest(portfolio=p1, use_ai_targets=False), store=store)
    assert [r.run_id for r in service.list_runs(store=store)] == [second.run_id, first.run_id]
    assert service.list_runs(store=store, limit=1)[0].run_id == second.run_id
    (row,) = [r for r in service.list_runs(store=store) if r.label == "first"]
    assert (row.status, row.n_stages, row.portfolio, row.approvable) == ("awaiting_approval", 7, p1.name, True)
    assert service.get_run(first.run_id, store=store) == first
    rejected = service.reject_run(first.run_id, user="bea", note="no", store=store)
    assert [r.run_id for r in service.list_runs(status="rejected", store=store)] == [rejected.run_id]
    assert service.approve_run(second.run_id, user="bea", note="yes", store=store).status == "approved"
    with pytest.raises(RunNotFound) as missing:
        service.get_run("nope", store=store)
    assert missing.value.code == "not_found"


def test_service_uses_the_data_directory_by_default(p1: Portfolio, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBALANCER_DATA_DIR", str(tmp_path))
    record = service.run_pipeline(PipelineRequest(portfolio=p1, use_ai_targets=False))
    assert (tmp_path / "pipeline.sqlite3").exists() and (tmp_path / "audit.sqlite3").exists()
    assert service.get_run(record.run_id) == record
    with AuditLog(tmp_path / "audit.sqlite3") as log:
        assert log.verify().ok and len(log) == 11  # started, 2 model_change, 7 stages, completed


# --- size ------------------------------------------------------------------------------------
PROXIES = {"SPY": ("etf", None), "AGG": ("etf", "fixed_income"), "WTI": ("commodity", None),
           "BRENT": ("commodity", None), **{k: ("stock", None) for k in (
               "AAPL", "AMZN", "GOOG", "JPM", "BAC", "XOM", "WMT", "PFE", "GE", "T", "MA", "MSFT", "JNJ", "KO", "PG")}}


def fifty_assets() -> Portfolio:
    """50 holdings with bundled proxies (2007-2016), seeded targets and drifted quantities."""
    rng = np.random.default_rng(11)
    targets = np.round(rng.dirichlet(np.full(50, 4.0)), 6)
    targets[-1] = 1.0 - targets[:-1].sum()
    keys = list(PROXIES)
    holdings = []
    for i, t in enumerate(targets):
        key = keys[i % len(keys)]
        kind, exposure = PROXIES[key]
        holdings.append(Holding(symbol=f"H{i:02d}", asset_class=kind, exposure=exposure, proxy=key, price=50.0,
                                quantity=float(np.floor(1e6 * t * rng.uniform(0.8, 1.2) / 50.0)),
                                target_weight=float(t)))
    return Portfolio(name="fifty", as_of="2016-09-30", cash=2_000.0, holdings=holdings)


def test_a_fifty_asset_run_goes_through_every_stage(store: RunStore) -> None:
    record = execute(PipelineRequest(portfolio=fifty_assets()), store)
    assert [s.status for s in record.stages] == ["ok"] * 7
    assert record.status in ("awaiting_approval", "blocked")
    assert record.forecast is not None and len(record.forecast.assets) == 50
    assert record.skill is not None and record.skill.n_ic_dates > 0  # a cross-section: IC is measured
    assert record.targets is not None and len(record.targets) == 50
    assert record.proposal is not None and len(record.proposal.trades) == 50
    assert os.path.getsize(store.path) > 0


def test_the_forecast_stage_registers_its_model_and_evaluation(tmp_path, monkeypatch) -> None:
    from engine import service

    monkeypatch.setenv("REBALANCER_DATA_DIR", str(tmp_path))
    portfolio = service.sample_portfolio("P1_CLASSIC_60_40")
    record = service.run_pipeline({"portfolio": portfolio.model_dump()}, user="dana")
    forecast = next(s for s in record.stages if s.name == "forecast")
    assert forecast.outputs["registry"] == {"name": "ensemble", "version": 1, "role": "champion",
                                            "approval": "approved"}
    (model,) = service.list_models("ensemble")
    assert model.params_hash == record.forecast.params_hash
    assert model.evaluation["ic_mean"] == record.skill.ic_mean
    # A second run with the same parameters adds no version.
    service.run_pipeline({"portfolio": portfolio.model_dump()}, user="dana")
    assert [m.version for m in service.list_models("ensemble")] == [1]
