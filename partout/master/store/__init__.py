"""The master's store: `open_store(url_or_path)` picks the backend.

- a path, or `sqlite://PATH` (`sqlite:///var/lib/partout/master.db` is absolute):
  the embedded SQLite store; a directory gets `store.sqlite` inside it;
- `arangodb://user@host:8529/db` (`arangodbs://` for TLS): ArangoDB through python-arango,
  the password from `password_file` or the environment (see store/arango/location.py)."""

from __future__ import annotations

from pathlib import Path

from partout.master.store.base import (
    AgentNotFound,
    AgentRecord,
    AmbiguousAgent,
    AgentStatus,
    DependencyRecord,
    EnrolmentLogEntry,
    PolicyErrorRecord,
    PolicyVersion,
    ReportRecord,
    Store,
    StoreError,
    match_agent,
    resolve_agent,
)

__all__ = [
    "AgentNotFound",
    "AgentRecord",
    "AmbiguousAgent",
    "AgentStatus",
    "DependencyRecord",
    "EnrolmentLogEntry",
    "PolicyErrorRecord",
    "PolicyVersion",
    "ReportRecord",
    "Store",
    "StoreError",
    "match_agent",
    "open_store",
    "resolve_agent",
]

SQLITE_FILE_NAME = "store.sqlite"


def open_store(url_or_path: str | Path, *, password_file: Path | None = None) -> Store:
    """Open (creating if needed) the store named by a path or URL; `password_file`
    holds the ArangoDB password."""
    text = str(url_or_path)
    if text.partition("://")[0].lower().startswith("arango") and "://" in text:
        from partout.master.store.arango import open_arango_store  # python-arango only when used

        return open_arango_store(text, password_file=password_file)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"unknown store scheme {scheme!r} in {text!r}; use a path, sqlite://PATH or arangodb://")
    if not text:
        raise StoreError("empty store path; give a path or sqlite://PATH")
    path = Path(text)
    if path.is_dir():
        path = path / SQLITE_FILE_NAME
    from partout.master.store.sqlite import SqliteStore  # sqlite3 only when used

    return SqliteStore(path)
