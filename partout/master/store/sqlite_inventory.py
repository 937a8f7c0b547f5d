"""The SQLite store's inventory: queries over the `inventory_nodes` view (agents' metadata
and JSON facts, translated by partout.inventory.sql, values as bind parameters only) and the
record of what agents' policies asked (`inventory_dependencies`)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from partout.master.store.base import AgentStatus, DependencyRecord
from partout.master.store.sqlite_schema import time_text

if TYPE_CHECKING:
    from partout.inventory import Answer, Query

INVENTORY_VIEW = "inventory_nodes"
_DEPENDENCY_COLUMNS = "agent_id, query, fields, scope, environment, digest, compile_id, asked_at, changed_at"


def _dependency_from_row(row: tuple[Any, ...]) -> DependencyRecord:
    return DependencyRecord(agent_id=row[0], query=row[1], fields=tuple(json.loads(row[2])), scope=row[3],
                            environment=row[4], digest=row[5], compile_id=row[6], asked_at=row[7],
                            changed_at=row[8])


class SqliteInventoryMethods:
    """The inventory part of `Store` for SqliteStore (which provides the connection)."""

    _lock: threading.Lock
    _connection: sqlite3.Connection
    _functions_registered: bool = False

    if TYPE_CHECKING:  # SqliteStore's
        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def inventory(self, query: Query, fields: Sequence[str] | None = None, *, environment: str | None = None,
                  status: AgentStatus | str | None = None) -> Answer:
        from partout.inventory import SqlFilter, answer_from_table, register_functions

        clauses, parameters = ["1"], []
        if environment is not None:
            clauses.append('"environment" = ?')
            parameters.append(environment)
        if status is not None:
            clauses.append('"status" = ?')
            parameters.append(AgentStatus(status).value)
        scope = SqlFilter(" AND ".join(clauses), tuple(parameters))
        with self._lock:
            if not self._functions_registered:
                register_functions(self._connection)  # REGEXP as RE2, once per connection
                self._functions_registered = True
            return answer_from_table(self._connection, INVENTORY_VIEW, query, scope=scope, fields=fields)

    def record_dependency(self, dependency: DependencyRecord) -> DependencyRecord:
        fields = json.dumps(list(dependency.fields))
        key = (dependency.agent_id, dependency.query, fields, dependency.scope)
        with self._transaction() as connection:
            connection.execute("DELETE FROM inventory_dependencies WHERE agent_id = ? AND compile_id != ?",
                               (dependency.agent_id, dependency.compile_id))
            row = connection.execute(
                "SELECT digest, changed_at FROM inventory_dependencies "
                "WHERE agent_id = ? AND query = ? AND fields = ? AND scope = ?", key).fetchone()
            changed_at = dependency.asked_at if row is None or row[0] != dependency.digest else row[1]
            connection.execute(
                f"INSERT OR REPLACE INTO inventory_dependencies ({_DEPENDENCY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, dependency.environment, dependency.digest, dependency.compile_id,
                 time_text(dependency.asked_at), changed_at if isinstance(changed_at, str) else time_text(changed_at)))
            found = connection.execute(
                f"SELECT {_DEPENDENCY_COLUMNS} FROM inventory_dependencies "
                "WHERE agent_id = ? AND query = ? AND fields = ? AND scope = ?", key).fetchone()
            return _dependency_from_row(found)

    def dependencies(self, agent_id: str | None = None) -> list[DependencyRecord]:
        where, parameters = ("WHERE agent_id = ? ", (agent_id,)) if agent_id is not None else ("", ())
        rows = self._query(f"SELECT {_DEPENDENCY_COLUMNS} FROM inventory_dependencies {where}"
                           "ORDER BY agent_id, query, fields, scope", parameters)
        return [_dependency_from_row(row) for row in rows]

    def forget_dependencies(self, agent_id: str) -> int:
        with self._transaction() as connection:
            return connection.execute("DELETE FROM inventory_dependencies WHERE agent_id = ?", (agent_id,)).rowcount


__all__ = ["INVENTORY_VIEW", "SqliteInventoryMethods"]
