"""The inventory document: what a query reads about one node.

    {"id": "...", "hostname": "web1", "environment": "prod", "status": "approved",
     "last_seen": "2025-01-31T12:00:00+00:00", "facts": {"os": {...}, "custom": {...}}}

Metadata values are strings or None (times as ISO-8601 text in UTC, so that text order
is time order: `last_seen < "2025-01-31"` works); facts are JSON values. The store
builds one per agent; the Python evaluator, the SQL and the AQL translations all read
this same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from partout.inventory.syntax import Field

FACTS = "facts"


def iso_time(value: datetime | str | None) -> str | None:
    """ISO text in UTC (naive times are taken as UTC), as the SQLite store keeps times."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def node_document(
    *,
    id: str,  # noqa: A002 - the query language's name for it
    hostname: str,
    environment: str | None,
    status: str,
    last_seen: datetime | str | None,
    facts: Mapping[str, Any],
) -> dict[str, Any]:
    """One node's document, from the store's record of it."""
    return {
        "id": id,
        "hostname": hostname,
        "environment": environment,
        "status": str(status),
        "last_seen": iso_time(last_seen),
        FACTS: facts,
    }


def read_field(document: Mapping[str, Any], field: Field) -> Any:
    """The field's value in the document, or None when any key on its path is absent
    or a step of the path is not an object: every operator treats missing as null."""
    if field.source == "metadata":
        return document.get(field.path[0])
    current: Any = document.get(FACTS)
    for key in field.path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current
