"""The SQLite store's schema, its migrations and the row <-> record conversions.

`MIGRATIONS[i]` brings a database from `PRAGMA user_version` i to i + 1; the store runs the
missing ones in one transaction when it opens a file (append, never edit)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from partout.master.store.base import AgentRecord, AgentStatus, ReportRecord
from partout.report import Report

_SCHEMA_V1 = """
CREATE TABLE agents (
    public_key TEXT PRIMARY KEY,
    agent_id TEXT UNIQUE,
    hostname TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    environment TEXT,
    enrolled_at TEXT NOT NULL,
    approved_at TEXT,
    revoked_at TEXT,
    last_seen TEXT,
    facts TEXT NOT NULL DEFAULT '{}',
    facts_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX agents_status ON agents (status);
CREATE TABLE reports (
    report_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    policy_digest TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    duration REAL NOT NULL,
    counts TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX reports_agent_started ON reports (agent_id, started_at DESC);
CREATE TABLE enrolments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    public_key TEXT NOT NULL,
    hostname TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE policy_errors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    message TEXT NOT NULL,
    file TEXT,
    line INTEGER,
    time TEXT NOT NULL
);
CREATE TABLE policy_versions (
    environment TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    digest TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (environment, sequence)
);
"""

# integrations: a removed one keeps its row (its key stays refused), so a name is unique only
# among those not removed
_SCHEMA_V2 = """
CREATE TABLE integrations (
    public_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    added_at TEXT NOT NULL,
    removed_at TEXT
);
CREATE UNIQUE INDEX integrations_active_name ON integrations (name) WHERE removed_at IS NULL;
"""

# Events (issue 12): batch ids guard against redelivery; raw leaves; hourly/daily/weekly
# buckets; the time of the last roll-up. Times are fixed-width UTC text (event_time).
_SCHEMA_V3_EVENTS = """
CREATE TABLE event_batches (
    batch_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX event_batches_received ON event_batches (received_at);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    module TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT,
    message TEXT,
    count INTEGER NOT NULL,
    level INTEGER NOT NULL,
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    agent_time TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_agent_received ON events (agent_id, received_at);
CREATE TABLE event_rollups (
    granularity TEXT NOT NULL,
    start TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    module TEXT NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (granularity, start, agent_id, module, status)
);
CREATE INDEX event_rollups_start ON event_rollups (start);
CREATE TABLE store_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX reports_received ON reports (received_at)
"""


# The inventory (issue 13): one row per agent as queries read it (partout.inventory.document),
# and what agents' policies asked of it.
_SCHEMA_V4_INVENTORY = """
CREATE VIEW inventory_nodes AS
    SELECT COALESCE(agent_id, public_key) AS id, hostname, environment, status, last_seen, facts FROM agents;
CREATE INDEX agents_environment_status ON agents (environment, status);
CREATE TABLE inventory_dependencies (
    agent_id TEXT NOT NULL,
    query TEXT NOT NULL,
    fields TEXT NOT NULL,
    scope TEXT NOT NULL,
    environment TEXT,
    digest TEXT NOT NULL,
    compile_id TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    changed_at TEXT,
    PRIMARY KEY (agent_id, query, fields, scope)
)
"""

# Triggers (issue 13): every trigger routed or refused, for `partout events`. `reached` is a
# JSON list of agent ids; times are fixed-width UTC text (event_time).
_SCHEMA_V5_TRIGGERS = """
CREATE TABLE triggers (
    trigger_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    "where" TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at TEXT NOT NULL,
    reached TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX triggers_received ON triggers (received_at)
"""


def _run_script(connection: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, and a migration must be one transaction.
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


# Index i brings a database from user_version i to i + 1. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    lambda connection: _run_script(connection, _SCHEMA_V1),
    lambda connection: _run_script(connection, _SCHEMA_V2),
    lambda connection: _run_script(connection, _SCHEMA_V3_EVENTS),
    lambda connection: _run_script(connection, _SCHEMA_V4_INVENTORY),
    lambda connection: _run_script(connection, _SCHEMA_V5_TRIGGERS),
]
SCHEMA_VERSION = len(MIGRATIONS)

AGENT_COLUMNS = (
    "public_key, agent_id, hostname, status, environment, enrolled_at, approved_at, "
    "revoked_at, last_seen, facts, facts_hash"
)


def time_text(value: datetime | None) -> str | None:
    """ISO text in UTC, so that text order is time order (naive times are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def agent_from_row(row: tuple[Any, ...]) -> AgentRecord:
    return AgentRecord(
        public_key=row[0],
        agent_id=row[1],
        hostname=row[2],
        status=AgentStatus(row[3]),
        environment=row[4],
        enrolled_at=row[5],
        approved_at=row[6],
        revoked_at=row[7],
        last_seen=row[8],
        facts=json.loads(row[9]),
        facts_hash=row[10],
    )


def report_from_row(row: tuple[Any, ...]) -> ReportRecord:
    return ReportRecord(
        report_id=row[0],
        agent_id=row[1],
        policy_digest=row[2],
        started_at=row[3],
        received_at=row[4],
        duration=row[5],
        counts=json.loads(row[6]),
        report=Report.model_validate_json(row[7]),
    )


REPORT_COLUMNS = "report_id, agent_id, policy_digest, started_at, received_at, duration, counts, report"
