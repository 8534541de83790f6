"""The audit trail: append-only, hash-chained, tamper-evident, crash-safe."""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from engine.audit import GENESIS, AuditLog, entry_hash


@pytest.fixture
def log(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite3") as log:
        yield log


def fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append("config_change", {"field": "band", "value": i / 100}, subject=f"doc{i}", user="alice")


def raw(log: AuditLog) -> sqlite3.Connection:
    """A connection that goes around the triggers, as a tamperer with file access would."""
    conn = sqlite3.connect(str(log.path), isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return conn


def test_entries_chain_from_genesis_and_verify(log: AuditLog) -> None:
    fill(log, 3)
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].hash
    e = entries[2]
    payload = '{"field":"band","value":0.02}'
    assert e.hash == entry_hash(e.prev_hash, 3, e.ts, "alice", "config_change", "doc2", payload)
    assert e.ts.endswith("Z")
    result = log.verify()
    assert (result.ok, result.entries, result.problems) == (True, 3, [])


def test_update_and_delete_are_refused_by_sqlite(log: AuditLog) -> None:
    fill(log, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log._conn.execute("UPDATE audit_log SET user = 'mallory' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log._conn.execute("DELETE FROM audit_log WHERE seq = 1")
    assert log.verify().ok


def test_edited_entry_is_detected(log: AuditLog) -> None:
    fill(log)
    raw(log).execute("UPDATE audit_log SET payload = '{\"field\":\"band\",\"value\":0.5}' WHERE seq = 3")
    result = log.verify()
    assert not result.ok
    assert result.problems == ["entry 3: content does not match its hash (edited)"]


def test_rehashed_edit_breaks_the_link_of_the_next_entry(log: AuditLog) -> None:
    fill(log)
    e = log.entries()[2]
    forged = entry_hash(e.prev_hash, 3, e.ts, "mallory", e.kind, e.subject, '{"field":"band","value":0.02}')
    raw(log).execute("UPDATE audit_log SET user = 'mallory', hash = ? WHERE seq = 3", (forged,))
    assert log.verify().problems == ["entry 4: does not link to the entry before it"]


def test_deleted_middle_entry_is_detected(log: AuditLog) -> None:
    fill(log)
    raw(log).execute("DELETE FROM audit_log WHERE seq = 2")
    assert log.verify().problems == [
        "entries 2..2 are missing (deleted)", "entry 3: does not link to the entry before it"]


def test_deleted_last_entries_are_detected_through_the_head(log: AuditLog) -> None:
    fill(log)
    raw(log).execute("DELETE FROM audit_log WHERE seq >= 4")
    assert log.verify().problems == ["entries 4..5 are missing at the end (deleted)"]


def test_unknown_kind_is_refused_and_nothing_written(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="unknown audit entry kind 'oops'"):
        log.append("oops", {})
    assert len(log) == 0


def test_export_csv_round_trips_every_field(log: AuditLog) -> None:
    fill(log, 2)
    rows = list(csv.DictReader(io.StringIO(log.export_csv())))
    assert [r["seq"] for r in rows] == ["1", "2"]
    assert rows[1]["payload"] == '{"field":"band","value":0.01}'
    assert rows[1]["hash"] == log.entries()[1].hash


def test_a_process_killed_while_appending_leaves_a_valid_log(tmp_path) -> None:
    path = tmp_path / "audit.sqlite3"
    script = textwrap.dedent(f"""
        import sys
        from engine.audit import AuditLog
        log = AuditLog({str(path)!r})
        i = 0
        while True:
            log.append("pipeline_stage", {{"i": i, "blob": "x" * 2000}}, subject="run-1", user="bot")
            i += 1
            if i == 50:
                print("ready", flush=True)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline().strip() == "ready"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    with AuditLog(path) as log:
        result = log.verify()
        assert result.ok, result.problems
        assert result.entries >= 50
        log.append("pipeline_run_incomplete", {"run": "run-1"}, subject="run-1")
        assert log.verify().ok


class _SlowHeadLog(AuditLog):
    """Writes its head file slowly, as a loaded machine might: what makes an unlocked head
    write land after a later writer's."""

    def _write_head(self, seq: int, digest: str) -> None:
        time.sleep(0.002)
        before = self.head_path.read_text(encoding="utf-8").split()[0] if self.head_path.exists() else "0"
        if int(before) > seq:  # the head would move back
            with open(self.path.with_name("head-moved-back"), "a", encoding="utf-8") as f:
                f.write(f"{before} -> {seq}\n")
        super()._write_head(seq, digest)


def _append_many(path: str, n: int, user: str, start, slow: bool = True) -> None:
    with (_SlowHeadLog if slow else AuditLog)(path) as log:
        start.wait(60)  # all writers at once
        for i in range(n):
            log.append("config_change", {"i": i}, subject=user, user=user)


def test_processes_appending_at_once_keep_one_chain_and_the_head_at_its_end(tmp_path) -> None:
    # The API's worker processes (and the desktop app) append to the same log concurrently.
    import multiprocessing

    path = str(tmp_path / "audit.sqlite3")
    AuditLog(path).close()  # the schema exists before the writers race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    writers = [ctx.Process(target=_append_many, args=(path, 100, f"p{i}", start)) for i in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
    assert [w.exitcode for w in writers] == [0, 0, 0]
    with AuditLog(path) as log:
        entries = log.entries(limit=None)
        assert [e.seq for e in entries] == list(range(1, 301))
        assert log.verify().ok
        seq, digest = log.head_path.read_text(encoding="utf-8").split()
        assert (int(seq), digest) == (entries[-1].seq, entries[-1].hash)
    assert not (tmp_path / "head-moved-back").exists()


def test_verify_while_another_process_appends_never_sees_the_head_ahead(tmp_path) -> None:
    import multiprocessing

    path = str(tmp_path / "audit.sqlite3")
    AuditLog(path).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    writer = ctx.Process(target=_append_many, args=(path, 600, "w", start, False))
    writer.start()
    results = []
    with AuditLog(path) as log:
        start.wait(60)
        while writer.is_alive():
            results.append(log.verify())
    writer.join(60)
    assert writer.exitcode == 0 and len(results) > 5
    assert all(r.ok for r in results), next(r.problems for r in results if not r.ok)
