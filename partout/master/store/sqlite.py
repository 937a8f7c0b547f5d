"""The embedded default store: one SQLite file (WAL) under the master's state dir.

One connection shared by the threads that use it, behind a lock: the master writes
from one store-writer actor, so contention is low, and a single connection keeps
transactions simple. Every write is one transaction.

Several processes may share the file (masters of one group on one machine): WAL lets
readers go on while one writes, every write takes the write lock up front (BEGIN
IMMEDIATE, so a transaction never fails half-way on an upgrade), the busy handler waits up
to BUSY_TIMEOUT for another process's write, and a write that still finds the database
locked or busy is tried again with backoff until WRITE_DEADLINE."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from partout.master.store.base import (
    AgentNotFound,
    AgentRecord,
    AgentStatus,
    EnrolmentLogEntry,
    PolicyErrorRecord,
    PolicyVersion,
    ReportRecord,
    StoreError,
    facts_digest,
    report_counts,
    utc_now,
)
from partout.master.store.sqlite_inventory import SqliteInventoryMethods
from partout.master.store.sqlite_integrations import SqliteIntegrationMethods
from partout.master.store.sqlite_events import SqliteEventMethods
from partout.master.store.sqlite_triggers import SqliteTriggerMethods
from partout.master.store.sqlite_schema import (
    AGENT_COLUMNS,
    MIGRATIONS,
    REPORT_COLUMNS,
    SCHEMA_VERSION,
    agent_from_row,
    report_from_row,
    time_text,
)
from partout.report import Report
from partout.retry import Backoff
from partout.state import ensure_state_dir

log = logging.getLogger(__name__)

T = TypeVar("T")
BUSY_TIMEOUT = 30.0  # seconds SQLite's busy handler waits for another connection's lock
WRITE_DEADLINE = 120.0  # seconds a write keeps retrying a locked database before it fails


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


class SqliteStore(SqliteEventMethods, SqliteIntegrationMethods, SqliteInventoryMethods, SqliteTriggerMethods):
    """`Store` on one SQLite file; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        ensure_state_dir(path.parent)
        # Create the file 0600 before SQLite does (it would follow the umask); the
        # -wal and -shm files SQLite makes take the database file's mode.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(descriptor)
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        self._lock = threading.Lock()
        try:
            self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                               timeout=BUSY_TIMEOUT)
            self._retry_busy(lambda: self._connection.execute("PRAGMA journal_mode=WAL"))
            # NORMAL in WAL mode survives a killed process (what at-least-once report
            # delivery relies on); only a power cut may lose the last commits.
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store {path}: {exc}; is it a Partout SQLite store?") from exc

    def _migrate(self) -> None:
        with self._transaction() as connection:
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {version}, newer than this Partout's "
                    f"{SCHEMA_VERSION}; upgrade Partout"
                )
            for step in range(version, SCHEMA_VERSION):
                log.info("migrating store", extra={"path": str(self.path), "to_version": step + 1})
                MIGRATIONS[step](connection)
                connection.execute(f"PRAGMA user_version = {step + 1}")

    def _retry_busy(self, operation: Callable[[], T]) -> T:
        """`operation()`, tried again while the database is locked by another process."""
        backoff = Backoff(first=0.01, limit=1.0)
        deadline = time.monotonic() + WRITE_DEADLINE
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(f"store {self.path} stayed locked by another process for "
                                     f"{WRITE_DEADLINE:g} s: {error}") from error
                delay = backoff.next()
                log.debug("store busy, retrying", extra={"path": str(self.path), "error": str(error),
                                                         "retry_in": round(delay, 3)})
                time.sleep(delay)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connection
            self._retry_busy(lambda: connection.execute("BEGIN IMMEDIATE"))
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._retry_busy(lambda: list(self._connection.execute(sql, parameters).fetchall()))

    @staticmethod
    def _find(connection: sqlite3.Connection, key: str) -> AgentRecord | None:
        row = connection.execute(
            f"SELECT {AGENT_COLUMNS} FROM agents WHERE agent_id = ? OR public_key = ?", (key, key)
        ).fetchone()
        return agent_from_row(row) if row is not None else None

    def _require(self, connection: sqlite3.Connection, key: str) -> AgentRecord:
        found = self._find(connection, key)
        if found is None:
            raise AgentNotFound(key)
        return found

    # agents

    def upsert_pending(self, public_key: str, hostname: str, facts: dict[str, Any]) -> AgentRecord:
        now = time_text(utc_now())
        facts_json = json.dumps(facts, default=str)
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO agents (public_key, hostname, status, enrolled_at, last_seen, facts, facts_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (public_key) DO UPDATE SET "
                "hostname = excluded.hostname, last_seen = excluded.last_seen, "
                "facts = excluded.facts, facts_hash = excluded.facts_hash",
                (public_key, hostname, AgentStatus.PENDING.value, now, now, facts_json, facts_digest(facts)),
            )
            return self._require(connection, public_key)

    def approve(self, key: str, environment: str) -> AgentRecord:
        with self._transaction() as connection:
            agent = self._require(connection, key)
            if agent.status is AgentStatus.REVOKED:
                raise StoreError(
                    f"agent {agent.key} ({agent.hostname}) was revoked and cannot be approved again; "
                    "the machine must make a new key (remove its agent key file) and enrol anew"
                )
            connection.execute(
                "UPDATE agents SET status = ?, environment = ?, agent_id = ?, approved_at = ? WHERE public_key = ?",
                (
                    AgentStatus.APPROVED.value,
                    environment,
                    agent.agent_id or str(uuid.uuid4()),
                    time_text(agent.approved_at or utc_now()),
                    agent.public_key,
                ),
            )
            return self._require(connection, agent.public_key)

    def revoke(self, key: str) -> AgentRecord:
        with self._transaction() as connection:
            agent = self._require(connection, key)
            if agent.status is not AgentStatus.REVOKED:
                connection.execute(
                    "UPDATE agents SET status = ?, revoked_at = ? WHERE public_key = ?",
                    (AgentStatus.REVOKED.value, time_text(utc_now()), agent.public_key),
                )
            return self._require(connection, agent.public_key)

    def get_agent(self, key: str) -> AgentRecord | None:
        with self._lock:
            return self._find(self._connection, key)

    def agent_by_public_key(self, public_key: str) -> AgentRecord | None:
        rows = self._query(f"SELECT {AGENT_COLUMNS} FROM agents WHERE public_key = ?", (public_key,))
        return agent_from_row(rows[0]) if rows else None

    def agents(self, status: AgentStatus | str | None = None, environment: str | None = None) -> list[AgentRecord]:
        clauses: list[str] = []
        parameters: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            parameters.append(AgentStatus(status).value)
        if environment is not None:
            clauses.append("environment = ?")
            parameters.append(environment)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT {AGENT_COLUMNS} FROM agents{where} ORDER BY enrolled_at, rowid", tuple(parameters)
        )
        return [agent_from_row(row) for row in rows]

    def touch(self, key: str, time: datetime | None = None) -> None:
        with self._transaction() as connection:
            agent = self._require(connection, key)
            connection.execute(
                "UPDATE agents SET last_seen = ? WHERE public_key = ?", (time_text(time or utc_now()), agent.public_key)
            )

    def put_facts(self, key: str, facts: dict[str, Any]) -> bool:
        digest = facts_digest(facts)
        with self._transaction() as connection:
            agent = self._require(connection, key)
            if agent.facts_hash == digest:
                return False
            connection.execute(
                "UPDATE agents SET facts = ?, facts_hash = ? WHERE public_key = ?",
                (json.dumps(facts, default=str), digest, agent.public_key),
            )
            return True

    # reports

    def add_report(self, agent_id: str, report: Report, *, report_id: str, policy_digest: str = "") -> bool:
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO reports (report_id, agent_id, policy_digest, started_at, received_at, duration, "
                "counts, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING",
                (
                    report_id,
                    agent_id,
                    policy_digest,
                    time_text(report.started_at),
                    time_text(utc_now()),
                    report.duration,
                    json.dumps(report_counts(report)),
                    report.model_dump_json(),
                ),
            )
            return cursor.rowcount == 1

    def get_report(self, report_id: str) -> ReportRecord | None:
        rows = self._query(f"SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = ?", (report_id,))
        return report_from_row(rows[0]) if rows else None

    def reports(self, agent_id: str, limit: int = 20) -> list[ReportRecord]:
        rows = self._query(
            f"SELECT {REPORT_COLUMNS} FROM reports WHERE agent_id = ? "
            "ORDER BY started_at DESC, received_at DESC LIMIT ?",
            (agent_id, limit),
        )
        return [report_from_row(row) for row in rows]

    def prune_reports(self, keep_per_agent: int = 100) -> int:
        with self._transaction() as connection:
            cursor = connection.execute(
                "DELETE FROM reports WHERE report_id IN (SELECT report_id FROM (SELECT report_id, ROW_NUMBER() "
                "OVER (PARTITION BY agent_id ORDER BY started_at DESC, received_at DESC) AS position "
                "FROM reports) WHERE position > ?)",
                (keep_per_agent,),
            )
            return cursor.rowcount

    # enrolment log

    def log_enrolment(self, entry: EnrolmentLogEntry) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO enrolments (time, public_key, hostname, outcome, reason) VALUES (?, ?, ?, ?, ?)",
                (time_text(entry.time), entry.public_key, entry.hostname, entry.outcome, entry.reason),
            )

    def enrolments(self, limit: int = 100) -> list[EnrolmentLogEntry]:
        rows = self._query(
            "SELECT time, public_key, hostname, outcome, reason FROM enrolments ORDER BY seq DESC LIMIT ?", (limit,)
        )
        return [
            EnrolmentLogEntry(time=row[0], public_key=row[1], hostname=row[2], outcome=row[3], reason=row[4])
            for row in rows
        ]

    # policies

    def record_policy_error(self, error: PolicyErrorRecord) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO policy_errors (environment, message, file, line, time) VALUES (?, ?, ?, ?, ?)",
                (error.environment, error.message, error.file, error.line, time_text(error.time)),
            )

    def policy_errors(self, environment: str | None = None, limit: int = 20) -> list[PolicyErrorRecord]:
        where, parameters = ("WHERE environment = ? ", (environment,)) if environment is not None else ("", ())
        rows = self._query(
            f"SELECT environment, message, file, line, time FROM policy_errors {where}ORDER BY seq DESC LIMIT ?",
            (*parameters, limit),
        )
        return [
            PolicyErrorRecord(environment=row[0], message=row[1], file=row[2], line=row[3], time=row[4])
            for row in rows
        ]

    def record_policy_version(self, version: PolicyVersion) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO policy_versions (environment, sequence, digest, published_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (environment, sequence) DO NOTHING",
                (version.environment, version.sequence, version.digest, time_text(version.published_at)),
            )

    def latest_policy_version(self, environment: str) -> PolicyVersion | None:
        rows = self._query(
            "SELECT environment, sequence, digest, published_at FROM policy_versions "
            "WHERE environment = ? ORDER BY sequence DESC LIMIT 1",
            (environment,),
        )
        if not rows:
            return None
        row = rows[0]
        return PolicyVersion(environment=row[0], sequence=row[1], digest=row[2], published_at=row[3])

    def close(self) -> None:
        with self._lock:
            self._connection.close()


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SqliteStore"]
