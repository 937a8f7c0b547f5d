"""The ArangoDB store backend (python-arango): `open_arango_store("arangodb://user@host:8529/db")`.

Files by concern: location.py (URL and password), connection.py (login, database
creation), schema.py (collections and indexes), aql.py (static queries, bind
variables, the runner), documents.py (records <-> documents), and one methods module
per kind of record (agents, reports, enrolments, policies) mixed into store.py.

A new kind of record (events, rollups, integrations) is: a CollectionSpec with its
indexes in schema.COLLECTIONS (created on the next start, no migration needed), a
module of `Query` constants and a `...Methods` mixin using `self._aql`, and that
mixin added to ArangoStore's bases. The offline tests then check its queries."""

from __future__ import annotations

from partout.master.store.arango.location import ArangoLocation, parse_arango_url
from partout.master.store.arango.store import ArangoStore, open_arango_store

__all__ = ["ArangoLocation", "ArangoStore", "open_arango_store", "parse_arango_url"]
