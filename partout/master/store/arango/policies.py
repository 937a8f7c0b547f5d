"""Policy errors and published policy versions in ArangoDB.

Errors are a log (padded `_key`, newest first); a version's `_key` is
document_key(environment, sequence), so recording it twice stores it once."""

from __future__ import annotations

from partout.master.store.arango.aql import Query, QueryRunner, limit_count
from partout.master.store.arango.documents import record, timed_document
from partout.master.store.arango.schema import document_key
from partout.master.store.base import PolicyErrorRecord, PolicyVersion

INSERT_ERROR = Query("""
INSERT @error INTO @@policy_errors
""")

NEWEST_ERRORS = Query("""
FOR error IN @@policy_errors
  FILTER @environment == null OR error.environment == @environment
  SORT error._key DESC
  LIMIT @count
  RETURN error
""")

INSERT_VERSION = Query("""
INSERT @version INTO @@policy_versions
""")

LATEST_VERSION = Query("""
FOR version IN @@policy_versions
  FILTER version.environment == @environment
  SORT version.sequence DESC
  LIMIT 1
  RETURN version
""")


class PolicyMethods:
    """The policy part of `Store`."""

    _aql: QueryRunner

    def record_policy_error(self, error: PolicyErrorRecord) -> None:
        self._aql.rows(INSERT_ERROR, error=timed_document(error, time=error.time))

    def policy_errors(self, environment: str | None = None, limit: int = 20) -> list[PolicyErrorRecord]:
        found = self._aql.rows(NEWEST_ERRORS, environment=environment, count=limit_count(limit))
        return [record(PolicyErrorRecord, document) for document in found]

    def record_policy_version(self, version: PolicyVersion) -> None:
        document = {
            **timed_document(version, published_at=version.published_at),
            "_key": document_key(version.environment, version.sequence),
        }
        self._aql.insert_once(INSERT_VERSION, version=document)

    def latest_policy_version(self, environment: str) -> PolicyVersion | None:
        found = self._aql.first(LATEST_VERSION, environment=environment)
        return record(PolicyVersion, found) if found is not None else None
