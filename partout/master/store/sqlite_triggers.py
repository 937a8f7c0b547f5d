"""The triggers part of the SQLite store (table `triggers`, migration 5)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from partout.master.store.event_records import event_time
from partout.master.store.trigger_records import TriggerQuery, TriggerRecord

COLUMNS = 'trigger_id, name, sender, sender_key, "where", data, received_at, reached, status, reason'


def trigger_from_row(row: tuple[Any, ...]) -> TriggerRecord:
    return TriggerRecord(trigger_id=row[0], name=row[1], sender=row[2], sender_key=row[3], where=row[4],
                         data=json.loads(row[5]), received_at=row[6], reached=tuple(json.loads(row[7])),
                         status=row[8], reason=row[9])


class SqliteTriggerMethods:
    """Mixed into SqliteStore, whose transaction and query helpers it uses."""

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # SqliteStore's

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # SqliteStore's

    def record_trigger(self, trigger: TriggerRecord) -> bool:
        with self._transaction() as connection:
            inserted = connection.execute(
                f"INSERT OR IGNORE INTO triggers ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (trigger.trigger_id, trigger.name, trigger.sender, trigger.sender_key, trigger.where,
                 json.dumps(trigger.data, sort_keys=True, default=str), event_time(trigger.received_at),
                 json.dumps(list(trigger.reached)), trigger.status, trigger.reason))
            return inserted.rowcount == 1

    def triggers(self, query: TriggerQuery) -> list[TriggerRecord]:
        conditions: list[str] = []
        parameters: list[Any] = []
        if query.name is not None:
            conditions.append("name = ?")
            parameters.append(query.name)
        if query.agent_id is not None:
            conditions.append("EXISTS (SELECT 1 FROM json_each(triggers.reached) WHERE value = ?)")
            parameters.append(query.agent_id)
        if query.since is not None:
            conditions.append("received_at >= ?")
            parameters.append(event_time(query.since))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._query(f"SELECT {COLUMNS} FROM triggers{where} ORDER BY received_at DESC, rowid DESC LIMIT ?",
                           (*parameters, query.limit))
        return [trigger_from_row(row) for row in rows]


__all__ = ["SqliteTriggerMethods"]
