"""What only the SQLite backend promises: file modes, schema versions, URLs."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from partout.errors import StateError
from partout.master.store import StoreError, open_store
from partout.master.store.sqlite import SCHEMA_VERSION, SqliteStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_file_is_0600_in_a_0700_state_dir(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    store = open_store(state_dir / "master.db")
    store.upsert_pending("UKEY", "web1", {})
    store.close()
    assert mode(state_dir) == 0o700
    assert mode(state_dir / "master.db") == 0o600


def test_a_directory_gets_a_store_file_inside_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    store = open_store(state_dir)
    store.close()
    assert (state_dir / "store.sqlite").is_file()


def test_a_sqlite_url_names_an_absolute_path(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path / 'state' / 'master.db'}")
    assert isinstance(store, SqliteStore)
    store.close()
    assert (tmp_path / "state" / "master.db").is_file()


def test_the_database_uses_wal_and_records_its_schema_version(tmp_path: Path) -> None:
    open_store(tmp_path / "state" / "master.db").close()
    connection = sqlite3.connect(tmp_path / "state" / "master.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        connection.close()


def test_a_store_from_a_newer_partout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "master.db"
    open_store(path).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError, match="newer than this Partout"):
        open_store(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "master.db"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="master.db"):
        open_store(path)


def test_a_state_dir_writable_by_others_is_refused(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_dir.chmod(0o777)
    with pytest.raises(StateError, match="chmod 700"):
        open_store(state_dir / "master.db")


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown store scheme 'mysql'"):
        open_store("mysql://localhost/partout")
