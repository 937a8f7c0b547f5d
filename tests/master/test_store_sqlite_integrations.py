"""What only the SQLite backend promises about integrations: a store made before them gains them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from partout.master.store import open_store
from partout.master.store.integrations import IntegrationRole
from partout.master.store.sqlite_schema import MIGRATIONS

KEY = "UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_a_store_from_before_integrations_is_migrated_keeping_its_agents(tmp_path: Path) -> None:
    path = tmp_path / "state" / "master.db"
    path.parent.mkdir(mode=0o700)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN")
    MIGRATIONS[0](connection)
    connection.execute("INSERT INTO agents (public_key, hostname, status, enrolled_at) "
                       "VALUES ('UOLD', 'web1', 'pending', '2026-01-01T00:00:00+00:00')")
    connection.execute("PRAGMA user_version = 1")
    connection.execute("COMMIT")
    connection.close()

    store = open_store(path)
    try:
        assert [agent.hostname for agent in store.agents()] == ["web1"]
        store.add_integration("grafana", IntegrationRole.READER, KEY)
        assert [found.name for found in store.integrations()] == ["grafana"]
    finally:
        store.close()
