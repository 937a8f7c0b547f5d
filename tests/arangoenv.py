"""The ArangoDB server the tests may use: PARTOUT_TEST_ARANGO_URL (none can be installed
on our build machines, so the ArangoDB cases skip unless it is set)."""

from __future__ import annotations

import os
import uuid

ARANGO_URL = os.environ.get("PARTOUT_TEST_ARANGO_URL")


def fresh_arango_location() -> str:
    """A store URL naming a new database on the test server."""
    return f"{str(ARANGO_URL).rstrip('/')}/partout_test_{uuid.uuid4().hex[:12]}"


def drop_arango_database(location: str) -> None:
    """The Store has no way to delete itself; the test's database goes through python-arango."""
    from partout.master.store.arango.connection import make_client
    from partout.master.store.arango.location import parse_arango_url

    parsed = parse_arango_url(location)
    client = make_client(parsed)
    try:
        system = client.db("_system", username=parsed.username, password=parsed.password.get_secret_value())
        system.delete_database(parsed.database, ignore_missing=True)
    finally:
        client.close()
