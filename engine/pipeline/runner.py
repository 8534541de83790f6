"""The run loop: every stage of :data:`~engine.pipeline.definition.STAGES`, in order, recorded.

Each stage implements the one interface :class:`Stage` (``run(context) -> StageResult``). The
loop times it, checks it produced its declared outputs, and appends a :class:`StageRecord`.
The run record is written to the store when the run starts (``running``) and after each stage,
and every step is written to the audit trail as it happens, so a process killed mid-run leaves
a valid audit log and a run the next :class:`~engine.pipeline.store.RunStore` marks
``incomplete``. A stage that raises ends the run ``failed`` with the stage and the message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel

from engine import __version__
from engine.audit import default_user
from engine.errors import Cancelled, RebalancerError
from engine.pipeline.definition import STAGES, StageSpec
from engine.pipeline.store import RunStore, current_owner
from engine.returns_frame import ReturnsFrame
from engine.schemas.ai import SkillReport
from engine.schemas.pipeline import PipelineRequest, RunError, RunRecord, StageRecord

__all__ = ["PipelineContext", "SkillCache", "Stage", "StageResult", "execute", "plain", "resolve_stage",
           "summarize"]

OnStage = Callable[[str, int, int], None]


@dataclass
class StageResult:
    """What a stage returns.

    Attributes
    ----------
    outputs : dict
        A JSON-able summary for the run record (what the GUI timeline and the API show).
    artefacts : dict
        Objects later stages read from the context; must include the stage's declared outputs.
    decisions, warnings : list of str
        Sentences an advisor reads.
    """

    outputs: dict[str, Any]
    artefacts: dict[str, Any]
    decisions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class SkillCache(Protocol):
    def cached_skill(self, key: str) -> SkillReport | None: ...
    def cache_skill(self, key: str, report: SkillReport) -> None: ...


@dataclass
class PipelineContext:
    """One run's state: the request and what each stage has published so far (no globals)."""

    request: PipelineRequest
    artefacts: dict[str, Any]
    skill_cache: SkillCache | None = None
    user: str | None = None

    def __getitem__(self, name: str) -> Any:
        try:
            return self.artefacts[name]
        except KeyError:
            raise KeyError(f"no '{name}' in the pipeline context (published: {', '.join(self.artefacts)})") from None


class Stage(Protocol):
    """The one interface every agent implements."""

    def run(self, context: PipelineContext) -> StageResult: ...


def resolve_stage(spec: StageSpec) -> Stage:
    """Instantiate the class named by ``spec.stage`` ("module:Class")."""
    module, _, name = spec.stage.partition(":")
    return getattr(importlib.import_module(module), name)()


# --- JSON-able summaries -----------------------------------------------------------------------
def plain(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays unwrapped, NaN/inf as None, dates as ISO text."""
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value if value is None or isinstance(value, str) else str(value)


def summarize(value: Any) -> Any:
    """A few numbers that identify an input (its shape, not its content)."""
    from engine.schemas import Portfolio

    if isinstance(value, Portfolio):
        return {"name": value.name, "n_holdings": len(value.holdings), "value": value.total_value,
                "as_of": value.as_of}
    if isinstance(value, ReturnsFrame):
        idx = value.returns.index
        dated = isinstance(idx, pd.DatetimeIndex) and len(idx)
        return {"n_periods": len(idx), "n_assets": value.returns.shape[1], "frequency": value.frequency,
                "start": idx[0].date() if dated else None, "end": idx[-1].date() if dated else None}
    if isinstance(value, np.ndarray):
        return {"shape": list(value.shape)}
    if isinstance(value, Mapping):
        return {"n": len(value)}
    if isinstance(value, list):
        return {"n": len(value), "n_trades": sum(getattr(v, "action", "HOLD") != "HOLD" for v in value)}
    if isinstance(value, SkillReport):
        return {"skill": value.skill, "ic_mean": value.ic_mean}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    return value


# --- the run loop ------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_run_id() -> str:
    """Sortable by start time, unique across processes."""
    return f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:10]}"


def _run_stage(spec: StageSpec, stage: Stage, context: PipelineContext
               ) -> tuple[StageRecord, StageResult | None, BaseException | None]:
    started, t0 = _now(), time.perf_counter()
    inputs = {name: summarize(context.artefacts[name]) for name in spec.inputs if name in context.artefacts}
    result, error = None, None
    try:
        missing_in = [n for n in spec.inputs if n not in context.artefacts]
        if missing_in:
            raise RuntimeError(f"declared inputs not available: {', '.join(missing_in)}")
        result = stage.run(context)
        missing_out = [n for n in spec.outputs if n not in result.artefacts]
        if missing_out:
            raise RuntimeError(f"declared outputs not produced: {', '.join(missing_out)}")
        outputs = plain(result.outputs)
    except Exception as exc:  # a stage's failure is the run's outcome, recorded, not a crash
        error, outputs = exc, {}
    record = StageRecord(
        name=spec.name, agent=spec.agent, started_at=started, duration_ms=1e3 * (time.perf_counter() - t0),
        status="failed" if error else "ok", input_summary=plain(inputs), outputs=outputs,
        decisions=list(result.decisions) if result and not error else [],
        warnings=list(result.warnings) if result and not error else [],
        error=f"{type(error).__name__}: {_message(error)}" if error else None)
    return record, (None if error else result), error


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, RebalancerError) else str(exc)


#: Artefacts copied into the run record's typed fields (artefact -> field).
_RECORD_FIELDS = {"forecast": "forecast", "skill": "skill", "optimisation": "optimisation",
                  "target_source": "target_source", "target_reason": "target_reason",
                  "optimised_targets": "targets", "post_trade_risk": "risk_after", "proposal": "proposal",
                  "control_report": "controls"}


def _absorb(artefacts: Mapping[str, Any]) -> dict[str, Any]:
    update = {f: artefacts[a] for a, f in _RECORD_FIELDS.items() if a in artefacts}
    if "risk_report" in artefacts:
        update["risk_before"] = artefacts["risk_report"].before.metrics
    return update


def _stage_entry(run_id: str, stage: StageRecord) -> dict[str, Any]:
    return {"run_id": run_id, "stage": stage.name, "agent": stage.agent, "status": stage.status,
            "duration_ms": round(stage.duration_ms, 3), "decisions": stage.decisions,
            "warnings": stage.warnings, "error": stage.error}


def _start(request: PipelineRequest, store: RunStore, user: str) -> RunRecord:
    now = _now()
    record = RunRecord(run_id=new_run_id(), status="running", user=user, label=request.label,
                       engine_version=__version__, created_at=now, updated_at=now, request=request)
    owner = current_owner()
    store.save(record, owner)
    p = request.portfolio
    store.audit.append("pipeline_run_started",
                       {"run_id": record.run_id, "portfolio": p.name, "n_holdings": len(p.holdings),
                        "value": p.total_value, "use_ai_targets": request.use_ai_targets,
                        "engine_version": __version__, "pid": owner.pid, "label": request.label},
                       subject=record.run_id, user=user)
    return record


def _fail(record: RunRecord, store: RunStore, stage: str, exc: BaseException, elapsed: float) -> RunRecord:
    error = RunError(stage=stage, type=type(exc).__name__, message=_message(exc),
                     details=list(getattr(exc, "details", []) or []))
    record = record.model_copy(update={"status": "failed", "error": error, "updated_at": _now(),
                                       "duration_ms": elapsed})
    store.save(record)
    store.audit.append("pipeline_run_failed", {"run_id": record.run_id, "stage": stage, **error.model_dump()},
                       subject=record.run_id, user=record.user)
    return record


def execute(request: PipelineRequest, store: RunStore, *, user: str | None = None, on_stage: OnStage | None = None,
            cancel: Callable[[], bool] | None = None, overrides: Mapping[str, Stage] | None = None) -> RunRecord:
    """Run every declared stage on ``request``; the record ends ``awaiting_approval``, ``blocked`` or ``failed``.

    Parameters
    ----------
    request : PipelineRequest
        Already validated (see :func:`engine.service.run_pipeline`).
    store : RunStore
        Where the record is written after every stage; ``store.audit`` gets every event and
        ``store`` caches walk-forward skill.
    user : str, optional
        Recorded with the run and its audit entries; default the OS user.
    on_stage : callable(name, index, total), optional
        Called before each stage starts (progress display).
    cancel : callable() -> bool, optional
        Checked before each stage; True ends the run ``failed`` with a :class:`Cancelled` error.
    overrides : mapping stage name -> Stage, optional
        Replacement implementations (tests, experiments); recorded like any stage.
    """
    stages = [(spec, (overrides or {}).get(spec.name) or resolve_stage(spec)) for spec in STAGES]
    who = user or default_user()
    record = _start(request, store, who)
    context = PipelineContext(request, {"portfolio": request.portfolio, "policy": request.policy,
                                        "control_policy": request.controls}, skill_cache=store, user=who)
    t0 = time.perf_counter()
    name = STAGES[0].name
    try:
        for i, (spec, stage) in enumerate(stages):
            name = spec.name
            if cancel is not None and cancel():
                return _fail(record, store, name, Cancelled("the run was cancelled before this stage"),
                             1e3 * (time.perf_counter() - t0))
            if on_stage is not None:
                on_stage(name, i, len(stages))
            stage_record, result, error = _run_stage(spec, stage, context)
            record = record.model_copy(update={"stages": [*record.stages, stage_record], "updated_at": _now(),
                                               "warnings": [*record.warnings, *stage_record.warnings]})
            if error is not None or result is None:
                store.audit.append("pipeline_stage", _stage_entry(record.run_id, stage_record),
                                   subject=record.run_id, user=who)
                return _fail(record, store, name, error or RuntimeError("no result"), 1e3 * (time.perf_counter() - t0))
            context.artefacts.update(result.artefacts)
            record = record.model_copy(update=_absorb(result.artefacts))
            store.save(record)
            store.audit.append("pipeline_stage", _stage_entry(record.run_id, stage_record), subject=record.run_id,
                               user=who)
        return _complete(record, store, context, 1e3 * (time.perf_counter() - t0))
    except BaseException as exc:  # interrupted, or the store itself failed: leave no live 'running' run behind
        with contextlib.suppress(Exception):
            if store.get(record.run_id).status == "running":
                _fail(record, store, name, exc, 1e3 * (time.perf_counter() - t0))
        raise


def _complete(record: RunRecord, store: RunStore, context: PipelineContext, elapsed: float) -> RunRecord:
    status = context["decision"]
    record = record.model_copy(update={"status": status, "updated_at": _now(), "duration_ms": elapsed})
    store.save(record)
    controls = record.controls
    store.audit.append("pipeline_run_completed", {
        "run_id": record.run_id, "status": status, "duration_ms": round(elapsed, 3),
        "target_source": record.target_source,
        "n_trades": record.proposal.totals.n_trades if record.proposal else None,
        "turnover": record.proposal.totals.turnover if record.proposal else None,
        "failed_controls": [r.control for r in controls.results if r.status == "fail"] if controls else [],
    }, subject=record.run_id, user=record.user)
    return record
