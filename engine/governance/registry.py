"""The model registry: versioned forecast models, a champion and its challengers.

A model is identified by name and version; its parameters are stored as canonical JSON with
their SHA-256 (registering the same parameters twice returns the existing version). Walk-forward
evaluation results are stored with the version. A challenger is promoted only when its
evaluation beats the champion's on the same evaluation window (see :func:`beats`); every
registration, evaluation and promotion is written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.audit import AuditLog
from engine.errors import RebalancerError
from engine.storage import connect, data_dir

Role = Literal["champion", "challenger", "retired"]
Approval = Literal["pending", "approved", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    params      TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    role        TEXT NOT NULL,
    approval    TEXT NOT NULL,
    evaluation  TEXT,
    PRIMARY KEY (name, version),
    UNIQUE (name, params_hash)
);
"""


class PromotionRefused(RebalancerError):
    """A challenger did not beat the champion (or could not be compared with it)."""

    code = "promotion_refused"


@dataclass(frozen=True)
class ModelRecord:
    name: str
    version: int
    params: dict[str, Any]
    params_hash: str
    created_at: str
    role: Role
    approval: Approval
    evaluation: dict[str, Any] | None

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def params_hash(params: dict[str, Any]) -> str:
    """SHA-256 of the parameters' canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def beats(challenger: dict[str, Any], champion: dict[str, Any]) -> tuple[bool, str]:
    """Whether a challenger's walk-forward evaluation beats the champion's.

    Both must cover the same window (``window_start``/``window_end``) and universe. The
    challenger must have a higher mean information coefficient (``ic_mean``) and a lower
    RMSE (``rmse``) than the champion — better ranking *and* no worse accuracy.
    """
    keys = ("window_start", "window_end", "universe")
    if any(challenger.get(k) != champion.get(k) for k in keys):
        return False, "the evaluations cover different windows or universes and cannot be compared"
    for k in ("ic_mean", "rmse"):
        if challenger.get(k) is None or champion.get(k) is None:
            return False, f"an evaluation lacks '{k}'"
    ic_c, ic_0 = float(challenger["ic_mean"]), float(champion["ic_mean"])
    rmse_c, rmse_0 = float(challenger["rmse"]), float(champion["rmse"])
    if ic_c > ic_0 and rmse_c <= rmse_0:
        return True, f"IC {ic_c:.4f} > {ic_0:.4f} and RMSE {rmse_c:.5f} ≤ {rmse_0:.5f}"
    return False, f"IC {ic_c:.4f} vs champion {ic_0:.4f}, RMSE {rmse_c:.5f} vs {rmse_0:.5f}: not better"


class ModelRegistry:
    """Models in ``registry.sqlite3`` under the user's data directory (or ``path``)."""

    def __init__(self, path: str | Path | None = None, audit: AuditLog | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / "registry.sqlite3"
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.audit = audit

    def close(self) -> None:
        self._conn.close()

    def _log(self, kind: str, payload: dict[str, Any], user: str | None) -> None:
        if self.audit is not None:
            self.audit.append(kind, payload, subject=f"{payload['name']} v{payload['version']}", user=user)

    def _row(self, r: tuple) -> ModelRecord:
        return ModelRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], json.loads(r[7]) if r[7] else None)

    _COLS = "name, version, params, params_hash, created_at, role, approval, evaluation"

    def get(self, name: str, version: int) -> ModelRecord:
        r = self._conn.execute(f"SELECT {self._COLS} FROM models WHERE name=? AND version=?",
                               (name, version)).fetchone()
        if r is None:
            raise RebalancerError(f"no model {name} v{version}")
        return self._row(r)

    def list(self, name: str | None = None) -> list[ModelRecord]:
        sql = f"SELECT {self._COLS} FROM models" + (" WHERE name=?" if name else "") + " ORDER BY name, version"
        return [self._row(r) for r in self._conn.execute(sql, (name,) if name else ())]

    def champion(self, name: str) -> ModelRecord | None:
        r = self._conn.execute(f"SELECT {self._COLS} FROM models WHERE name=? AND role='champion'",
                               (name,)).fetchone()
        return self._row(r) if r else None

    def register(self, name: str, params: dict[str, Any], *, user: str | None = None) -> ModelRecord:
        """Register parameters as a new version (the first of a name becomes champion)."""
        digest = params_hash(params)
        with self._lock:
            r = self._conn.execute(f"SELECT {self._COLS} FROM models WHERE name=? AND params_hash=?",
                                   (name, digest)).fetchone()
            if r:
                return self._row(r)
            version = 1 + (self._conn.execute("SELECT MAX(version) FROM models WHERE name=?",
                                              (name,)).fetchone()[0] or 0)
            role: Role = "champion" if version == 1 else "challenger"
            approval: Approval = "approved" if version == 1 else "pending"
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            self._conn.execute(f"INSERT INTO models ({self._COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                               (name, version, json.dumps(params, sort_keys=True), digest, now, role, approval))
        self._log("model_change", {"action": "register", "name": name, "version": version, "role": role,
                                   "params_hash": digest}, user)
        return self.get(name, version)

    def record_evaluation(self, name: str, version: int, evaluation: dict[str, Any], *,
                          user: str | None = None) -> ModelRecord:
        self.get(name, version)
        self._conn.execute("UPDATE models SET evaluation=? WHERE name=? AND version=?",
                           (json.dumps(evaluation, sort_keys=True), name, version))
        self._log("model_change", {"action": "evaluate", "name": name, "version": version,
                                   "ic_mean": evaluation.get("ic_mean"), "rmse": evaluation.get("rmse")}, user)
        return self.get(name, version)

    def promote(self, name: str, version: int, *, user: str | None = None, note: str = "") -> ModelRecord:
        """Make a challenger the champion, only if its evaluation beats the champion's."""
        challenger, champ = self.get(name, version), self.champion(name)
        if challenger.role == "champion":
            raise PromotionRefused(f"{challenger.label} is already the champion")
        if challenger.evaluation is None:
            raise PromotionRefused(f"{challenger.label} has no walk-forward evaluation")
        if champ is not None:
            if champ.evaluation is None:
                raise PromotionRefused(f"the champion {champ.label} has no evaluation to compare with")
            ok, why = beats(challenger.evaluation, champ.evaluation)
            if not ok:
                self._log("model_change", {"action": "promotion_refused", "name": name, "version": version,
                                           "reason": why}, user)
                raise PromotionRefused(f"{challenger.label} does not beat {champ.label}: {why}")
        else:
            why = "no champion"
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("UPDATE models SET role='retired' WHERE name=? AND role='champion'", (name,))
            self._conn.execute("UPDATE models SET role='champion', approval='approved' WHERE name=? AND version=?",
                               (name, version))
            self._conn.execute("COMMIT")
        self._log("model_change", {"action": "promote", "name": name, "version": version, "reason": why,
                                   "note": note}, user)
        return self.get(name, version)
