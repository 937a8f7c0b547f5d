"""Several masters on one SQLite file (WAL): writers in separate processes wait for each
other instead of failing, and every write lands once."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import eventually

from partout.master.store import StoreError, open_store
from partout.master.store import sqlite as sqlite_store
from partout.report import Report, ResourceResult, Status

WRITER = """
import sys, uuid
from datetime import UTC, datetime
from partout.master.store import open_store
from partout.report import Report, ResourceResult, Status

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store(path)
print("open", flush=True)
sys.stdin.readline()  # both writers start together
for number in range(count):
    key = f"U{name}{number}"
    store.upsert_pending(key, f"{name}-{number}", {"n": number})
    agent = store.approve(key, "production")
    report = Report(policy="site.p2", hostname=agent.hostname, started_at=datetime.now(UTC), duration=0.01,
                    results=[ResourceResult(id="file:/tmp/x", status=Status.CHANGED, summary="content")])
    store.add_report(agent.agent_id, report, report_id=f"{name}-{number}")
    store.touch(key)
store.close()
print("done", flush=True)
"""


def _report() -> Report:
    return Report(policy="site.p2", hostname="web-1", started_at=datetime.now(UTC), duration=0.01,
                  results=[ResourceResult(id="file:/tmp/x", status=Status.CHANGED, summary="content")])


def test_two_processes_write_one_store_at_once_and_every_write_lands(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "store.sqlite"
    count = 150
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(count)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    try:
        # both open (and migrate) the fresh file at once, then write together
        for writer in writers:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "open", writer.stderr
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outputs = [writer.communicate(timeout=240) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    for writer, (stdout, stderr) in zip(writers, outputs):
        assert writer.returncode == 0 and stdout.strip() == "done", stderr
    store = open_store(path)
    try:
        agents = store.agents("approved")
        assert len(agents) == 2 * count and len({agent.agent_id for agent in agents}) == 2 * count
        for name in ("a", "b"):
            assert all(store.get_report(f"{name}-{number}") is not None for number in range(count))
    finally:
        store.close()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()


def test_a_write_waits_out_a_lock_held_longer_than_the_busy_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partout.master.store.sqlite")
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.05)  # SQLite gives up at once: the retry must carry on
    path = tmp_path / "store.sqlite"
    store = open_store(path)
    other = sqlite3.connect(path, isolation_level=None)  # another master, in the middle of a write
    other.execute("BEGIN IMMEDIATE")
    stored: list[bool] = []
    writer = threading.Thread(target=lambda: stored.append(store.add_report("agent-1", _report(),
                                                                            report_id=uuid.uuid4().hex)))
    writer.start()
    try:
        assert eventually(lambda: any(record.getMessage() == "store busy, retrying" for record in caplog.records),
                          timeout=30)
        assert writer.is_alive() and stored == []
        other.execute("COMMIT")
        writer.join(timeout=30)
        assert stored == [True]
        assert len(store.reports("agent-1")) == 1
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        writer.join(timeout=30)
        store.close()


def test_a_write_that_cannot_get_the_lock_in_time_fails_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.05)
    monkeypatch.setattr(sqlite_store, "WRITE_DEADLINE", 0.3)
    path = tmp_path / "store.sqlite"
    store = open_store(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="stayed locked by another process"):
            store.add_report("agent-1", _report(), report_id="r-1")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.get_report("r-1") is None
    assert store.add_report("agent-1", _report(), report_id="r-1")  # and the store still works
    store.close()
