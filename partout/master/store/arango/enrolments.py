"""The enrolment log in ArangoDB: every attempt, newest first by its padded `_key`."""

from __future__ import annotations

from partout.master.store.arango.aql import Query, QueryRunner, limit_count
from partout.master.store.arango.documents import record, timed_document
from partout.master.store.base import EnrolmentLogEntry

INSERT = Query("""
INSERT @entry INTO @@enrolments
""")

NEWEST = Query("""
FOR entry IN @@enrolments
  SORT entry._key DESC
  LIMIT @count
  RETURN entry
""")


class EnrolmentMethods:
    """The enrolment-log part of `Store`."""

    _aql: QueryRunner

    def log_enrolment(self, entry: EnrolmentLogEntry) -> None:
        self._aql.rows(INSERT, entry=timed_document(entry, time=entry.time))

    def enrolments(self, limit: int = 100) -> list[EnrolmentLogEntry]:
        return [record(EnrolmentLogEntry, found) for found in self._aql.rows(NEWEST, count=limit_count(limit))]
