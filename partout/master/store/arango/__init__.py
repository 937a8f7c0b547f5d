"""The ArangoDB store backend (python-arango): `open_arango_store("arangodb://user@host:8529/db")`.

Files by concern: location.py (URL and password), connection.py (login, database
creation), schema.py (collections and indexes), aql.py (static queries, bind
variables, the runner), documents.py (records <-> documents), and one methods module
per kind of record (agents, reports, enrolments, policies) mixed into store.py."""

from __future__ import annotations

from partout.master.store.arango.location import ArangoLocation, parse_arango_url
from partout.master.store.arango.store import ArangoStore, open_arango_store

__all__ = ["ArangoLocation", "ArangoStore", "open_arango_store", "parse_arango_url"]
