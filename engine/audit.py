"""An append-only, hash-chained audit trail in SQLite.

Each entry stores the SHA-256 of its own content and of the entry before it, so editing or
deleting any entry breaks the chain from there on. Triggers refuse UPDATE and DELETE through
SQLite; :meth:`AuditLog.verify` catches what is done around them (a dropped trigger, a file
edited by hand). Deleting entries from the end cannot break a chain, so the head (last sequence
number and hash) is also written to a sidecar file after every append, and verify compares.

Appends are single SQLite transactions: a process killed at any moment leaves the log as of
its last committed entry, which still verifies.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import hashlib
import io
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.storage import connect, data_dir

_log = logging.getLogger(__name__)

GENESIS = "0" * 64
KINDS = (
    "pipeline_run_started", "pipeline_stage", "pipeline_run_completed", "pipeline_run_failed",
    "pipeline_run_incomplete", "approval", "rejection", "export", "config_change", "model_change",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq       INTEGER PRIMARY KEY,
    ts        TEXT NOT NULL,
    user      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    user: str
    kind: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problems: list[str]


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(prev_hash: str, seq: int, ts: str, user: str, kind: str, subject: str, payload: str) -> str:
    """SHA-256 over the previous hash and every field, unit-separated so fields cannot run together."""
    text = "\x1f".join([prev_hash, str(seq), ts, user, kind, subject, payload])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class AuditLog:
    """The audit trail at ``path`` (default: ``audit.sqlite3`` in the user's data directory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / "audit.sqlite3"
        self.head_path = self.path.with_suffix(self.path.suffix + ".head")
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)
        if not self.head_path.exists():
            self._start_head()

    def _start_head(self) -> None:
        """A new log's head names no entry yet ("0 GENESIS"): from then on a missing head file
        means one was deleted. Under the write lock, so it cannot replace a head written by a
        process that has appended meanwhile."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if not self.head_path.exists() and self._conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0:
                self._write_head(0, GENESIS)
        finally:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------
    def append(self, kind: str, payload: dict[str, Any] | None = None, *, subject: str = "",
               user: str | None = None) -> AuditEntry:
        """Append one entry atomically and return it."""
        if kind not in KINDS:
            raise ValueError(f"unknown audit entry kind '{kind}'; expected one of {', '.join(KINDS)}")
        body = _canonical(payload or {})
        who = user or default_user()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                ts = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
                digest = entry_hash(prev, seq, ts, who, kind, subject, body)
                self._conn.execute(
                    "INSERT INTO audit_log (seq, ts, user, kind, subject, payload, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, ts, who, kind, subject, body, prev, digest))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._update_head()
        return AuditEntry(seq, ts, who, kind, subject, json.loads(body), prev, digest)

    def _update_head(self) -> None:
        """Record the table's last entry in the head file, under the database's write lock: another
        process appending at the same time (the API's worker processes, the desktop app) writes its
        head under the same lock, so the head never moves back. After the commit, so a process
        killed in between leaves the head one entry behind, never ahead."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked past the timeout: the entry is committed,
            _log.warning("audit head not updated (%s); it lags until the next entry", exc)  # which counts
            return
        try:
            seq, digest = self._conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            self._write_head(seq, digest)
        finally:
            self._conn.execute("COMMIT")  # nothing written: releases the lock

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_text(f"{seq} {digest}\n", encoding="utf-8")
        os.replace(tmp, self.head_path)

    # --- reading -------------------------------------------------------------------------------
    def entries(self, *, kind: str | None = None, subject: str | None = None, limit: int | None = None,
                offset: int = 0) -> list[AuditEntry]:
        sql, args = "SELECT seq, ts, user, kind, subject, payload, prev_hash, hash FROM audit_log", []
        where = []
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if subject:
            where.append("subject = ?")
            args.append(subject)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq LIMIT ? OFFSET ?"
        args += [limit if limit is not None else -1, offset]
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
                for r in self._conn.execute(sql, args)]

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])

    def verify(self) -> VerifyResult:
        """Recompute the chain; report every edited, inserted or deleted entry found."""
        problems: list[str] = []
        hashes: dict[int, str] = {}
        prev, expected_seq, n = GENESIS, 1, 0
        # The head first: it is written after its entry is committed, so every entry it names is
        # in the rows read next, even while another process appends.
        head = self.head_path.read_text(encoding="utf-8") if self.head_path.exists() else None
        rows = self._conn.execute(
            "SELECT seq, ts, user, kind, subject, payload, prev_hash, hash FROM audit_log ORDER BY seq")
        for seq, ts, user, kind, subject, payload, prev_hash, digest in rows:
            n += 1
            if seq != expected_seq:
                problems.append(f"entries {expected_seq}..{seq - 1} are missing (deleted)")
            if prev_hash != prev:
                problems.append(f"entry {seq}: does not link to the entry before it")
            if entry_hash(prev_hash, seq, ts, user, kind, subject, payload) != digest:
                problems.append(f"entry {seq}: content does not match its hash (edited)")
            prev, expected_seq = digest, seq + 1
            hashes[seq] = digest
        problems += self._check_head(head, expected_seq - 1, hashes)
        return VerifyResult(ok=not problems, entries=n, problems=problems)

    @staticmethod
    def _check_head(head: str | None, last_seq: int, hashes: dict[int, str]) -> list[str]:
        """Compare with the sidecar head (its text, ``None`` when there is no file). It may lag
        behind the table (a process killed between the commit and the head write, or appends
        after it was read), never run ahead of it."""
        if head is None:
            return [] if last_seq == 0 else ["the head file is missing; deletions at the end cannot be ruled out"]
        seq_text, _, digest = head.strip().partition(" ")
        head_seq = int(seq_text) if seq_text.isdigit() else -1
        if head_seq > last_seq:
            return [f"entries {last_seq + 1}..{head_seq} are missing at the end (deleted)"]
        if head_seq in hashes and hashes[head_seq] != digest:
            return [f"entry {head_seq}: differs from the recorded head (edited)"]
        return []

    def export_csv(self) -> str:
        """The whole log as CSV text (payload as canonical JSON), in sequence order."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["seq", "ts", "user", "kind", "subject", "payload", "prev_hash", "hash"])
        for r in self._conn.execute(
                "SELECT seq, ts, user, kind, subject, payload, prev_hash, hash FROM audit_log ORDER BY seq"):
            writer.writerow(r)
        return buf.getvalue()


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection, for tools that must not write (e.g. an external verifier)."""
    return sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
