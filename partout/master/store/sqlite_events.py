"""Events in the SQLite store: raw leaves, rollup buckets, and the roll-up itself.

A batch is one transaction: its id into `event_batches` (the redelivery guard), its
leaves into `events`. The roll-up runs inside the writing transaction whenever a cut moved
since the last one (store_meta keeps when that was), so no cron is needed and two masters
on one file never roll up the same rows twice: SQLite's write lock orders them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from partout.events.counts import node_events
from partout.events.rollup import CountRow, Granularity, RetentionPolicy, cutoffs, roll_up
from partout.events.wire import EventBatch, Level, NodeEvent
from partout.master.store.event_records import (
    ROLLUP_META_KEY, EventCount, EventQuery, RollupSummary, batch_ids_before, event_time, overlapping, reports_before,
    rollup_due,
)
from partout.master.store.sqlite_schema import time_text
from partout.report import Status

_EVENT_COLUMNS = ("agent_id, module, status, title, message, count, level, batch_id, period_start, period_end, "
                  "agent_time, received_at")
_HOUR_TEXT = 13  # len("2030-01-02T03"): the hour of a fixed-width time text


def _where(query: EventQuery, time_column: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    parameters: list[Any] = []
    for column, value in (("agent_id", query.agent_id), ("module", query.module),
                          ("status", query.status.value if query.status is not None else None)):
        if value is not None:
            clauses.append(f"{column} = ?")
            parameters.append(value)
    if query.since is not None:
        clauses.append(f"{time_column} >= ?")
        parameters.append(event_time(query.since))
    if query.until is not None:
        clauses.append(f"{time_column} < ?")
        parameters.append(event_time(query.until))
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), parameters


def _node_event(row: tuple[Any, ...]) -> NodeEvent:
    return NodeEvent(agent_id=row[0], module=row[1], status=Status(row[2]), title=row[3], message=row[4],
                     count=row[5], level=Level(row[6]), batch_id=row[7], period_start=row[8], period_end=row[9],
                     agent_time=row[10], received_at=row[11])


class SqliteEventMethods:
    """The event half of `Store` on SQLite (mixed into SqliteStore)."""

    if TYPE_CHECKING:
        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def add_event_batch(self, batch: EventBatch, *, received_at: datetime, retention: RetentionPolicy) -> bool:
        received = event_time(received_at)
        with self._transaction() as connection:
            if rollup_due(self._rolled_up_at(connection), received_at, retention):
                self._roll_up(connection, received_at, retention)
            inserted = connection.execute(
                "INSERT INTO event_batches (batch_id, agent_id, received_at) VALUES (?, ?, ?) "
                "ON CONFLICT (batch_id) DO NOTHING", (batch.batch_id, batch.agent_id, received))
            if inserted.rowcount != 1:
                return False
            connection.executemany(
                f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(event.agent_id, event.module, event.status.value, event.title, event.message, event.count,
                  int(event.level), event.batch_id, event_time(event.period_start), event_time(event.period_end),
                  event_time(event.agent_time), received)
                 for event in node_events(batch, received_at)])
            return True

    def events(self, query: EventQuery) -> list[NodeEvent]:
        where, parameters = _where(query, "received_at")
        rows = self._query(f"SELECT {_EVENT_COLUMNS} FROM events{where} ORDER BY received_at DESC, seq DESC LIMIT ?",
                           (*parameters, query.limit))
        return [_node_event(row) for row in rows]

    def event_counts(self, query: EventQuery) -> list[EventCount]:
        where, parameters = _where(query, "received_at")
        raw = self._query(f"SELECT received_at, agent_id, module, status, SUM(count) FROM events{where} "
                          "GROUP BY received_at, agent_id, module, status", tuple(parameters))
        bucket_query = query.model_copy(update={"since": None, "until": None})
        where, parameters = _where(bucket_query, "start")
        buckets = self._query(f"SELECT granularity, start, agent_id, module, status, count FROM event_rollups{where}",
                              tuple(parameters))
        counts = [EventCount(granularity=Granularity.RAW, start=row[0], agent_id=row[1], module=row[2],
                             status=Status(row[3]), count=row[4]) for row in raw]
        counts += [EventCount(granularity=Granularity(row[0]), start=row[1], agent_id=row[2], module=row[3],
                              status=Status(row[4]), count=row[5]) for row in buckets]
        return overlapping(counts, query)

    def roll_up_events(self, now: datetime, retention: RetentionPolicy) -> RollupSummary:
        with self._transaction() as connection:
            return self._roll_up(connection, now, retention)

    @staticmethod
    def _rolled_up_at(connection: sqlite3.Connection) -> datetime | None:
        row = connection.execute("SELECT value FROM store_meta WHERE name = ?", (ROLLUP_META_KEY,)).fetchone()
        return datetime.fromisoformat(row[0]) if row is not None else None

    @staticmethod
    def _roll_up(connection: sqlite3.Connection, now: datetime, retention: RetentionPolicy) -> RollupSummary:
        cut = cutoffs(now, retention)
        # every raw row before the raw cut moves, so they are summed per hour here (the cuts
        # are hour-aligned, so an hour's rows share a tier) and deleted by range below
        rows = [CountRow(Granularity.RAW, datetime.fromisoformat(f"{row[0]}:00:00+00:00"), (row[1], row[2], row[3]),
                         row[4])
                for row in connection.execute(
                    f"SELECT substr(received_at, 1, {_HOUR_TEXT}), agent_id, module, status, SUM(count) FROM events "
                    "WHERE received_at < ? GROUP BY 1, 2, 3, 4", (event_time(cut.raw_before),))]
        tiers = [(Granularity.HOUR, cut.hourly_before), (Granularity.DAY, cut.daily_before)]
        if cut.weekly_before is not None:
            tiers.append((Granularity.WEEK, cut.weekly_before))
        for granularity, before in tiers:
            rows += [CountRow(granularity, datetime.fromisoformat(row[0]), (row[1], row[2], row[3]), row[4])
                     for row in connection.execute(
                         "SELECT start, agent_id, module, status, count FROM event_rollups "
                         "WHERE granularity = ? AND start < ?", (granularity.value, event_time(before)))]
        plan = roll_up(rows, now, retention)
        assert len(plan.prune) == len(rows), "every row read lies past its tier's cut"
        connection.execute("DELETE FROM events WHERE received_at < ?", (event_time(cut.raw_before),))
        for granularity, before in tiers:
            connection.execute("DELETE FROM event_rollups WHERE granularity = ? AND start < ?",
                               (granularity.value, event_time(before)))
        connection.executemany(
            "INSERT INTO event_rollups (granularity, start, agent_id, module, status, count) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (granularity, start, agent_id, module, status) DO UPDATE SET count = count + excluded.count",
            [(row.granularity.value, event_time(row.start), *row.key, row.count) for row in plan.upsert])
        reports = connection.execute(
            "DELETE FROM reports WHERE received_at < ? AND report_id NOT IN (SELECT report_id FROM (SELECT report_id, "
            "ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY started_at DESC, received_at DESC) AS position "
            "FROM reports) WHERE position = 1)", (time_text(reports_before(now, retention)),)).rowcount
        batch_ids = connection.execute("DELETE FROM event_batches WHERE received_at < ?",
                                       (event_time(batch_ids_before(now, retention)),)).rowcount
        connection.execute("INSERT INTO store_meta (name, value) VALUES (?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (ROLLUP_META_KEY, event_time(now)))
        return RollupSummary(moved=_total(plan.upsert), expired=_total(plan.expired), reports_pruned=reports,
                             batch_ids_pruned=batch_ids)


def _total(rows: Iterable[CountRow]) -> int:
    return sum(row.count for row in rows)


__all__ = ["SqliteEventMethods"]
