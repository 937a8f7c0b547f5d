"""The integrations part of the SQLite store (table `integrations`, migration 2)."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from partout.master.store.base import utc_now
from partout.master.store.integrations import (
    IntegrationNotFound, IntegrationRecord, IntegrationRole, check_integration_name, key_taken, name_taken,
)
from partout.master.store.sqlite_schema import time_text

COLUMNS = "name, role, public_key, added_at, removed_at"


def integration_from_row(row: tuple[Any, ...]) -> IntegrationRecord:
    return IntegrationRecord(name=row[0], role=IntegrationRole(row[1]), public_key=row[2], added_at=row[3],
                             removed_at=row[4])


class SqliteIntegrationMethods:
    """Mixed into SqliteStore, whose transaction and query helpers it uses."""

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # SqliteStore's

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # SqliteStore's

    def add_integration(self, name: str, role: IntegrationRole, public_key: str) -> IntegrationRecord:
        check_integration_name(name)
        record = IntegrationRecord(name=name, role=IntegrationRole(role), public_key=public_key, added_at=utc_now())
        with self._transaction() as connection:
            if connection.execute("SELECT 1 FROM integrations WHERE public_key = ?", (public_key,)).fetchone():
                raise key_taken(public_key)
            try:
                connection.execute(
                    f"INSERT INTO integrations ({COLUMNS}) VALUES (?, ?, ?, ?, NULL)",
                    (record.name, record.role.value, record.public_key, time_text(record.added_at)))
            except sqlite3.IntegrityError:  # the partial unique index: an active one has the name
                raise name_taken(name) from None
        return record

    def integrations(self, *, removed: bool = False) -> list[IntegrationRecord]:
        where = "" if removed else " WHERE removed_at IS NULL"
        rows = self._query(f"SELECT {COLUMNS} FROM integrations{where} ORDER BY added_at, rowid")
        return [integration_from_row(row) for row in rows]

    def integration_by_public_key(self, public_key: str) -> IntegrationRecord | None:
        rows = self._query(f"SELECT {COLUMNS} FROM integrations WHERE public_key = ?", (public_key,))
        return integration_from_row(rows[0]) if rows else None

    def remove_integration(self, name: str) -> IntegrationRecord:
        with self._transaction() as connection:
            found = connection.execute(
                f"SELECT {COLUMNS} FROM integrations WHERE name = ? AND removed_at IS NULL", (name,)).fetchone()
            if found is None:
                raise IntegrationNotFound(name)
            connection.execute("UPDATE integrations SET removed_at = ? WHERE public_key = ?",
                               (time_text(utc_now()), found[2]))
            row = connection.execute(f"SELECT {COLUMNS} FROM integrations WHERE public_key = ?",
                                     (found[2],)).fetchone()
        return integration_from_row(row)


__all__ = ["SqliteIntegrationMethods"]

