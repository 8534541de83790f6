"""The supervisor's last step: a user approves or rejects a run, with a note.

Only a run ``awaiting_approval`` (every hard control passed) can be approved or rejected; both
need a user and a non-empty note, are stored in the run and written to the audit trail. An
approval then runs the simulated execution and its transaction-cost analysis and stores them in
the run. The status change is a compare-and-set in the store, so two users deciding the same run
at once cannot both win.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from engine.errors import InvalidRequest, RebalancerError
from engine.pipeline.runner import plain
from engine.pipeline.store import RunStore
from engine.schemas.execution import ExecutionReport
from engine.schemas.pipeline import RunDecision, RunRecord

__all__ = ["ApprovalRefused", "approve", "reject", "simulate_execution"]

Simulate = Callable[[RunRecord], ExecutionReport]


class ApprovalRefused(RebalancerError):
    """The run is not in a state that can be approved or rejected."""

    code = "approval_refused"


def _required(user: str | None, note: str | None) -> tuple[str, str]:
    details = []
    user, note = (user or "").strip(), (note or "").strip()
    if not user:
        details.append({"loc": ["user"], "msg": "a decision needs the name of the user who takes it",
                        "type": "missing"})
    if not note:
        details.append({"loc": ["note"], "msg": "a decision needs a note saying why", "type": "missing"})
    if details:
        raise InvalidRequest("; ".join(d["msg"] for d in details), details)
    return user, note


def _decidable(store: RunStore, run_id: str, action: str) -> RunRecord:
    record = store.get(run_id)
    if record.status != "awaiting_approval":
        why = {"blocked": "a hard pre-trade control failed",
               "running": "the pipeline has not finished"}.get(record.status, f"it is already {record.status}")
        msg = f"run {run_id} cannot be {action}d: its status is '{record.status}' ({why}); only a run " \
              "awaiting approval can be"
        raise ApprovalRefused(msg, [{"loc": ["run_id"], "msg": msg, "type": "approval_refused"}])
    return record


def simulate_execution(record: RunRecord) -> ExecutionReport:
    """Simulated fills of the approved proposal and their transaction-cost analysis (:mod:`engine.execution`)."""
    from engine.execution import simulate_execution as simulate

    if record.proposal is None:
        raise ApprovalRefused(f"run {record.run_id} has no proposal to execute")
    return simulate(record.proposal, record.request.execution)


def _decide(store: RunStore, run_id: str, action: str, user: str | None, note: str | None,
            simulate: Simulate | None) -> RunRecord:
    user, note = _required(user, note)
    record = _decidable(store, run_id, action)
    now = dt.datetime.now(dt.UTC)
    update: dict[str, Any] = {"status": "approved" if action == "approve" else "rejected", "updated_at": now,
                              "decision": RunDecision(action=action, user=user, note=note, at=now)}  # type: ignore[arg-type]
    if action == "approve" and simulate is not None:
        try:
            update["execution"] = simulate(record)
        except Exception as exc:  # the approval stands; the record says the simulation could not run
            update["warnings"] = [*record.warnings, f"simulated execution failed: {type(exc).__name__}: {exc}"]
    decided = record.model_copy(update=update)
    if not store.transition(decided, "awaiting_approval"):
        now_status = store.get(run_id).status
        msg = f"run {run_id} was decided by someone else meanwhile (status '{now_status}')"
        raise ApprovalRefused(msg, [{"loc": ["run_id"], "msg": msg, "type": "approval_refused"}])
    payload: dict[str, Any] = {"run_id": run_id, "note": note, "status": decided.status,
                               "n_trades": record.proposal.totals.n_trades if record.proposal else None}
    if decided.execution is not None:
        payload["execution"] = _execution_digest(decided.execution)
    store.audit.append("approval" if action == "approve" else "rejection", payload, subject=run_id, user=user)
    return decided


def _execution_digest(report: ExecutionReport) -> dict[str, Any]:
    """The figures an auditor needs (the audit entry stays small)."""
    t = report.totals
    return plain({"n_fills": t.n_fills, "estimated_cost": t.estimated_cost, "simulated_cost": t.simulated_cost,
                  "shortfall": t.shortfall, "shortfall_bps": t.shortfall_bps, "seed": report.seed,
                  "flags": [f.code + (f" {f.symbol}" if f.symbol else "") for f in report.flags]})


def approve(store: RunStore, run_id: str, *, user: str, note: str,
            simulate: Simulate | None = simulate_execution) -> RunRecord:
    """Approve a run awaiting approval, then simulate its execution and TCA.

    Raises
    ------
    InvalidRequest
        No user or an empty note.
    ApprovalRefused
        The run is not ``awaiting_approval`` (blocked, already decided, failed, incomplete).
    RunNotFound
        No such run.
    """
    return _decide(store, run_id, "approve", user, note, simulate)


def reject(store: RunStore, run_id: str, *, user: str, note: str) -> RunRecord:
    """Reject a run awaiting approval; the note is recorded with it. Raises as :func:`approve`."""
    return _decide(store, run_id, "reject", user, note, None)
