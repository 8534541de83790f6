"""Pipeline run records, persisted in SQLite (``pipeline.sqlite3`` in the data directory).

Each save rewrites one run's whole record in one transaction, so a reader (or a process
killed mid-save) never leaves a half-written record. A run carries the id of the process that
owns it (pid plus a start token that survives pid reuse); opening the store marks every run
still ``running`` whose owner is gone as ``incomplete`` and writes that to the audit trail.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.audit import AuditLog
from engine.errors import RebalancerError
from engine.governance.registry import ModelRegistry
from engine.schemas.ai import SkillReport
from engine.schemas.pipeline import RunRecord, RunStatus, RunSummary
from engine.storage import connect, data_dir

__all__ = ["Owner", "RunNotFound", "RunStore", "current_owner", "owner_alive"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status     TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    token      TEXT NOT NULL,
    summary    TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS skill_cache (
    key    TEXT PRIMARY KEY,
    report TEXT NOT NULL
);
"""


class RunNotFound(RebalancerError):
    """No run with that id in the store."""

    code = "not_found"


@dataclass(frozen=True)
class Owner:
    """The process that runs a pipeline: its pid and a token naming that process instance."""

    pid: int
    token: str


def _start_token(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '' where unknown.

    A pid can be reused after its process dies; the start time cannot, so pid + token names
    one process instance.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(pid, _start_token(pid))


def _pid_exists(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owner_alive(owner: Owner) -> bool:
    """Whether the process that owns a run still exists (and is the same process instance)."""
    if owner.pid == os.getpid():
        return owner.token == current_owner().token
    if not _pid_exists(owner.pid):
        return False
    token = _start_token(owner.pid)
    return not (owner.token and token and token != owner.token)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class RunStore:
    """Run records at ``path`` (default ``pipeline.sqlite3`` in :func:`engine.storage.data_dir`).

    Parameters
    ----------
    path : path-like, optional
    audit : AuditLog, optional
        Where run events are logged; default the audit trail in the data directory.
    recover : bool
        Mark orphaned ``running`` runs ``incomplete`` on opening (the default).
    """

    def __init__(self, path: str | Path | None = None, audit: AuditLog | None = None, *,
                 recover: bool = True) -> None:
        self.path = Path(path) if path is not None else data_dir() / "pipeline.sqlite3"
        self._owns_audit = audit is None
        self.audit = audit if audit is not None else AuditLog(self.path.with_name("audit.sqlite3"))
        self._registry: ModelRegistry | None = None
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)
        self.recovered: list[str] = self.recover_incomplete() if recover else []

    @property
    def registry(self) -> ModelRegistry:
        """The model registry beside this store (``registry.sqlite3``), auditing into the same log."""
        if self._registry is None:
            self._registry = ModelRegistry(self.path.with_name("registry.sqlite3"), audit=self.audit)
        return self._registry

    def close(self) -> None:
        self._conn.close()
        if self._registry is not None:
            self._registry.close()
        if self._owns_audit:
            self.audit.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------
    def save(self, record: RunRecord, owner: Owner | None = None) -> None:
        """Insert or replace the whole record in one transaction (``owner`` on first save)."""
        who = owner or current_owner()
        self._conn.execute(
            "INSERT INTO runs (run_id, created_at, updated_at, status, pid, token, summary, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET updated_at = excluded.updated_at, "
            "status = excluded.status, summary = excluded.summary, record = excluded.record",
            (record.run_id, record.created_at.isoformat(), record.updated_at.isoformat(), record.status,
             who.pid, who.token, _summary(record).model_dump_json(), record.model_dump_json()))

    def transition(self, record: RunRecord, expected: RunStatus) -> bool:
        """Save ``record`` only if the stored run still has status ``expected`` (compare-and-set).

        Two users approving the same run at once: exactly one transition wins.
        """
        cur = self._conn.execute(
            "UPDATE runs SET updated_at = ?, status = ?, summary = ?, record = ? WHERE run_id = ? AND status = ?",
            (record.updated_at.isoformat(), record.status, _summary(record).model_dump_json(),
             record.model_dump_json(), record.run_id, expected))
        return cur.rowcount == 1

    # --- reading -------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        row = self._conn.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no pipeline run '{run_id}'",
                              [{"loc": ["run_id"], "msg": f"no pipeline run '{run_id}'", "type": "not_found"}])
        return RunRecord.model_validate_json(row[0])

    def list(self, *, status: RunStatus | None = None, limit: int = 100, offset: int = 0) -> list[RunSummary]:
        """Newest first."""
        sql, args = "SELECT summary FROM runs", []
        if status:
            sql, args = sql + " WHERE status = ?", [status]
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?"
        return [RunSummary.model_validate_json(r[0]) for r in self._conn.execute(sql, [*args, limit, offset])]

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # --- crash recovery ------------------------------------------------------------------------
    def recover_incomplete(self) -> list[str]:
        """Mark ``running`` runs whose owning process is gone ``incomplete``; return their ids."""
        rows = self._conn.execute("SELECT run_id, pid, token FROM runs WHERE status = 'running'").fetchall()
        done = []
        for run_id, pid, token in rows:
            if owner_alive(Owner(int(pid), str(token))):
                continue
            record = self.get(run_id)
            last = record.stages[-1].name if record.stages else None
            message = (f"the process running this pipeline (pid {pid}) stopped before it finished; "
                       f"last completed stage: {last or 'none'}")
            stamp = dt.datetime.fromisoformat(_now())
            marked = record.model_copy(update={"status": "incomplete", "updated_at": stamp,
                                               "warnings": [*record.warnings, message]})
            if self.transition(marked, "running"):  # another opener may have marked it first
                self.audit.append("pipeline_run_incomplete",
                                  {"run_id": run_id, "pid": int(pid), "last_stage": last,
                                   "stages_completed": len(record.stages)},
                                  subject=run_id, user=record.user)
                done.append(run_id)
        return done

    # --- walk-forward skill cache --------------------------------------------------------------
    def cached_skill(self, key: str) -> SkillReport | None:
        row = self._conn.execute("SELECT report FROM skill_cache WHERE key = ?", (key,)).fetchone()
        return SkillReport.model_validate_json(row[0]) if row else None

    def cache_skill(self, key: str, report: SkillReport) -> None:
        self._conn.execute("INSERT OR REPLACE INTO skill_cache (key, report) VALUES (?, ?)",
                           (key, report.model_dump_json()))


def _summary(record: RunRecord) -> RunSummary:
    return RunSummary(
        run_id=record.run_id, status=record.status, user=record.user, label=record.label,
        portfolio=record.request.portfolio.name, created_at=record.created_at, updated_at=record.updated_at,
        n_stages=len(record.stages), target_source=record.target_source,
        n_trades=record.proposal.totals.n_trades if record.proposal else None,
        approvable=record.controls.approvable if record.controls else None,
    )

