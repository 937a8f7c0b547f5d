"""Integrations in ArangoDB: one document per public key (`_key` = document_key(public key)).

A key is registered once, ever (the `_key` makes that atomic); a name is unique among the
integrations not removed, which ADD checks and inserts in one query holding the
collection's exclusive lock, so two masters adding one name at once cannot both succeed."""

from __future__ import annotations

import arango.errno as errno

from partout.master.store.arango.aql import Query, QueryError, QueryRunner
from partout.master.store.arango.documents import record, stored_time, timed_document
from partout.master.store.arango.schema import document_key
from partout.master.store.base import utc_now
from partout.master.store.integrations import (
    IntegrationNotFound, IntegrationRecord, IntegrationRole, check_integration_name, key_taken, name_taken,
)

ADD = Query("""
LET taken = FIRST(
  FOR integration IN @@integrations
    FILTER integration.name == @name AND integration.removed_at == null
    LIMIT 1
    RETURN integration._key
)
FILTER taken == null
INSERT @integration INTO @@integrations OPTIONS { exclusive: true }
RETURN NEW
""")

BY_PUBLIC_KEY = Query("""
FOR integration IN @@integrations
  FILTER integration._key == @document_key
  RETURN integration
""")

LIST = Query("""
FOR integration IN @@integrations
  FILTER @removed OR integration.removed_at == null
  SORT integration.added_at, integration._key
  RETURN integration
""")

REMOVE = Query("""
FOR integration IN @@integrations
  FILTER integration.name == @name AND integration.removed_at == null
  UPDATE integration WITH { removed_at: @now } IN @@integrations
  RETURN NEW
""")


class IntegrationMethods:
    """The integrations part of `Store`."""

    _aql: QueryRunner

    def add_integration(self, name: str, role: IntegrationRole, public_key: str) -> IntegrationRecord:
        check_integration_name(name)
        added = IntegrationRecord(name=name, role=IntegrationRole(role), public_key=public_key, added_at=utc_now())
        document = {**timed_document(added, added_at=added.added_at), "_key": document_key(public_key)}
        try:
            inserted = self._aql.rows(ADD, name=name, integration=document)
        except QueryError as exc:
            if exc.code == errno.UNIQUE_CONSTRAINT_VIOLATED:
                raise key_taken(public_key) from None
            raise
        if not inserted:
            raise name_taken(name)
        return record(IntegrationRecord, inserted[0])

    def integrations(self, *, removed: bool = False) -> list[IntegrationRecord]:
        return [record(IntegrationRecord, found) for found in self._aql.rows(LIST, removed=removed)]

    def integration_by_public_key(self, public_key: str) -> IntegrationRecord | None:
        found = self._aql.first(BY_PUBLIC_KEY, document_key=document_key(public_key))
        return record(IntegrationRecord, found) if found is not None else None

    def remove_integration(self, name: str) -> IntegrationRecord:
        removed = self._aql.first(REMOVE, retry_conflicts=True, name=name, now=stored_time(utc_now()))
        if removed is None:
            raise IntegrationNotFound(name)
        return record(IntegrationRecord, removed)
