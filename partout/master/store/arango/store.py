"""`ArangoStore`: the `Store` on ArangoDB, for several masters sharing one database.

The methods live by concern in agents.py, reports.py, enrolments.py, policies.py, events.py,
integrations.py, inventory.py and triggers.py; this class only opens the database, makes sure of the schema, and closes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from partout.master.store.arango.agents import AgentMethods
from partout.master.store.arango.aql import QueryRunner
from partout.master.store.arango.connection import make_client, open_database
from partout.master.store.arango.enrolments import EnrolmentMethods
from partout.master.store.arango.integrations import IntegrationMethods
from partout.master.store.arango.events import EventMethods
from partout.master.store.arango.inventory import InventoryMethods
from partout.master.store.arango.location import ArangoLocation, parse_arango_url
from partout.master.store.arango.policies import PolicyMethods
from partout.master.store.arango.reports import ReportMethods
from partout.master.store.arango.schema import ensure_schema
from partout.master.store.arango.triggers import TriggerMethods
from partout.master.store.base import Store

log = logging.getLogger(__name__)


class ArangoStore(AgentMethods, ReportMethods, EnrolmentMethods, PolicyMethods, EventMethods, IntegrationMethods,
                  InventoryMethods, TriggerMethods):
    """`Store` on an ArangoDB database; safe to call from several threads."""

    def __init__(self, location: ArangoLocation) -> None:
        self.location = location
        self._client = make_client(location)
        try:
            database = open_database(self._client, location)
            ensure_schema(database, location.describe())
        except BaseException:
            self._client.close()
            raise
        self._aql = QueryRunner(database, location.describe())
        log.info("opened ArangoDB store", extra={"store": location.describe()})

    def __repr__(self) -> str:
        return f"ArangoStore({self.location.describe()!r})"

    def close(self) -> None:
        self._client.close()


if TYPE_CHECKING:
    _CONFORMS: type[Store] = ArangoStore  # mypy checks the class against the Store protocol


def open_arango_store(url: str, *, password_file: Path | None = None) -> ArangoStore:
    """Open the store at `url` (see location.py for the URL and the password)."""
    return ArangoStore(parse_arango_url(url, password_file=password_file))
