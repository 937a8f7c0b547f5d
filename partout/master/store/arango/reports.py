"""Run reports in ArangoDB: `_key` = document_key(report id), so a redelivered report
collides with itself on the primary index and is stored once, even across masters."""

from __future__ import annotations

from partout.master.store.arango.aql import EVERYTHING, Query, QueryRunner, limit_count
from partout.master.store.arango.documents import report_document, report_record
from partout.master.store.arango.schema import document_key
from partout.master.store.base import ReportRecord, report_counts, utc_now
from partout.report import Report

INSERT = Query("""
INSERT @report INTO @@reports
""")

GET = Query("""
FOR report IN @@reports
  FILTER report._key == @document_key
  RETURN report
""")

NEWEST = Query("""
FOR report IN @@reports
  FILTER report.agent_id == @agent_id
  SORT report.started_at DESC, report.received_at DESC
  LIMIT @count
  RETURN report
""")

# The doomed keys are read in subqueries before the first REMOVE: AQL forbids reading
# a collection after modifying it in the same query. One subquery per agent, so that
# SORT and LIMIT count that agent's reports alone.
PRUNE = Query("""
LET agent_ids = (FOR report IN @@reports RETURN DISTINCT report.agent_id)
LET doomed = (
  FOR agent_id IN agent_ids
    LET surplus = (
      FOR report IN @@reports
        FILTER report.agent_id == agent_id
        SORT report.started_at DESC, report.received_at DESC
        LIMIT @keep, @everything
        RETURN report._key
    )
    FOR key IN surplus
      RETURN key
)
LET removed = (FOR key IN doomed REMOVE key IN @@reports RETURN OLD._key)
RETURN LENGTH(removed)
""")


class ReportMethods:
    """The report half of `Store`."""

    _aql: QueryRunner

    def add_report(self, agent_id: str, report: Report, *, report_id: str, policy_digest: str = "") -> bool:
        document = report_document(
            document_key(report_id), report_id, agent_id, report, policy_digest, utc_now(), report_counts(report)
        )
        return self._aql.insert_once(INSERT, report=document)

    def get_report(self, report_id: str) -> ReportRecord | None:
        found = self._aql.first(GET, document_key=document_key(report_id))
        return report_record(found) if found is not None else None

    def reports(self, agent_id: str, limit: int = 20) -> list[ReportRecord]:
        return [report_record(found) for found in self._aql.rows(NEWEST, agent_id=agent_id, count=limit_count(limit))]

    def prune_reports(self, keep_per_agent: int = 100) -> int:
        removed = self._aql.first(PRUNE, retry_conflicts=True, keep=max(keep_per_agent, 0), everything=EVERYTHING)
        return int(removed or 0)
