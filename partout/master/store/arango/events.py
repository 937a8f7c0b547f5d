"""Events in ArangoDB: raw leaves (`events`), rollup buckets (`event_rollups`, `_key` =
document_key(granularity, start, agent, module, status)), the redelivery guard
(`event_batches`, `_key` = document_key(batch id)) and the time of the last roll-up.

A batch is one query: its leaves and its id go in together, and a redelivered id fails
the whole query on the primary index, so nothing of it is stored twice. A roll-up reads
what lies past the cuts, plans with partout.events.rollup, and writes the plan in one
stream transaction (it removes from and adds to `event_rollups`, which one AQL query may
not do)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from partout.events.counts import node_events
from partout.events.rollup import CountRow, Granularity, RetentionPolicy, cutoffs, roll_up
from partout.events.wire import EventBatch, NodeEvent
from partout.master.store.arango.aql import Query, QueryRunner
from partout.master.store.arango.documents import stored_time
from partout.master.store.arango.schema import document_key
from partout.master.store.event_records import (
    ROLLUP_META_KEY, EventCount, EventQuery, RollupSummary, batch_ids_before, overlapping, reports_before, rollup_due,
)

WRITTEN_BY_ROLLUP = ("events", "event_rollups", "event_batches", "reports", "event_state")
_HOUR_TEXT = 13  # len("2030-01-02T03"): the hour of a stored time

INSERT_BATCH = Query("""
LET stored = (FOR event IN @events INSERT event INTO @@events RETURN NEW._key)
INSERT @batch INTO @@event_batches
RETURN LENGTH(stored)
""")

NEWEST = Query("""
FOR event IN @@events
  FILTER @agent_id == null OR event.agent_id == @agent_id
  FILTER @module == null OR event.module == @module
  FILTER @status == null OR event.status == @status
  FILTER @since == null OR event.received_at >= @since
  FILTER @until == null OR event.received_at < @until
  SORT event.received_at DESC, event._key DESC
  LIMIT @count
  RETURN event
""")

RAW_COUNTS = Query("""
FOR event IN @@events
  FILTER @agent_id == null OR event.agent_id == @agent_id
  FILTER @module == null OR event.module == @module
  FILTER @status == null OR event.status == @status
  FILTER @since == null OR event.received_at >= @since
  FILTER @until == null OR event.received_at < @until
  COLLECT received_at = event.received_at, agent_id = event.agent_id, module = event.module, status = event.status
    AGGREGATE count = SUM(event.count)
  RETURN { start: received_at, agent_id: agent_id, module: module, status: status, count: count }
""")

BUCKETS = Query("""
FOR bucket IN @@event_rollups
  FILTER @agent_id == null OR bucket.agent_id == @agent_id
  FILTER @module == null OR bucket.module == @module
  FILTER @status == null OR bucket.status == @status
  RETURN bucket
""")

ROLLED_UP_AT = Query("""
FOR state IN @@event_state
  FILTER state._key == @key
  RETURN state.time
""")

RAW_BY_HOUR_BEFORE = Query("""
FOR event IN @@events
  FILTER event.received_at < @before
  COLLECT hour = SUBSTRING(event.received_at, @hour_start, @hour_length), agent_id = event.agent_id,
    module = event.module, status = event.status
    AGGREGATE count = SUM(event.count)
  RETURN { hour: hour, agent_id: agent_id, module: module, status: status, count: count }
""")

BUCKETS_BEFORE = Query("""
FOR bucket IN @@event_rollups
  FILTER bucket.granularity == @granularity AND bucket.start < @before
  RETURN bucket
""")

REMOVE_RAW_BEFORE = Query("""
FOR event IN @@events
  FILTER event.received_at < @before
  REMOVE event IN @@events
""")

REMOVE_BUCKETS = Query("""
FOR key IN @keys
  REMOVE key IN @@event_rollups
""")

ADD_TO_BUCKETS = Query("""
FOR bucket IN @buckets
  UPSERT { _key: bucket._key }
    INSERT bucket
    UPDATE { count: OLD.count + bucket.count }
    IN @@event_rollups
""")

REMOVE_BATCH_IDS_BEFORE = Query("""
FOR batch IN @@event_batches
  FILTER batch.received_at < @before
  REMOVE batch IN @@event_batches
  RETURN OLD._key
""")

# Each agent's newest report is read in a subquery before any REMOVE (AQL forbids reading
# a collection after modifying it in the same query).
PRUNE_OLD_REPORTS = Query("""
LET agent_ids = (FOR report IN @@reports RETURN DISTINCT report.agent_id)
LET kept = (
  FOR agent_id IN agent_ids
    LET newest = (
      FOR report IN @@reports
        FILTER report.agent_id == agent_id
        SORT report.started_at DESC, report.received_at DESC
        LIMIT 1
        RETURN report._key
    )
    RETURN FIRST(newest)
)
LET doomed = (FOR report IN @@reports FILTER report.received_at < @before AND report._key NOT IN kept RETURN report._key)
LET removed = (FOR key IN doomed REMOVE key IN @@reports RETURN OLD._key)
RETURN LENGTH(removed)
""")

SET_ROLLED_UP_AT = Query("""
UPSERT { _key: @key }
  INSERT { _key: @key, time: @time }
  UPDATE { time: @time }
  IN @@event_state
""")


def _event_document(event: NodeEvent) -> dict[str, Any]:
    document = event.model_dump(mode="json", exclude={"v"})
    for name in ("period_start", "period_end", "agent_time", "received_at"):
        document[name] = stored_time(getattr(event, name))
    return document


def _bucket_document(row: CountRow) -> dict[str, Any]:
    start = stored_time(row.start)
    agent_id, module, status = row.key
    return {"_key": document_key(row.granularity.value, start, agent_id, module, status),
            "granularity": row.granularity.value, "start": start, "agent_id": agent_id, "module": module,
            "status": status, "count": row.count}


def _filters(query: EventQuery) -> tuple[str | None, str | None, str | None]:
    """agent_id, module and status, None where the query does not filter."""
    return query.agent_id, query.module, query.status.value if query.status is not None else None


class EventMethods:
    """The event part of `Store`."""

    _aql: QueryRunner

    def add_event_batch(self, batch: EventBatch, *, received_at: datetime, retention: RetentionPolicy) -> bool:
        last = self._aql.first(ROLLED_UP_AT, key=document_key(ROLLUP_META_KEY))
        if rollup_due(datetime.fromisoformat(last) if last else None, received_at, retention):
            self.roll_up_events(received_at, retention)
        received = stored_time(received_at)
        batch_document = {"_key": document_key(batch.batch_id), "batch_id": batch.batch_id,
                          "agent_id": batch.agent_id, "received_at": received}
        return self._aql.insert_once(INSERT_BATCH, batch=batch_document,
                                     events=[_event_document(event) for event in node_events(batch, received_at)])

    def events(self, query: EventQuery) -> list[NodeEvent]:
        agent_id, module, status = _filters(query)
        found = self._aql.rows(NEWEST, agent_id=agent_id, module=module, status=status, since=_time(query.since),
                               until=_time(query.until), count=query.limit)
        return [NodeEvent.model_validate({name: value for name, value in document.items()
                                          if name in NodeEvent.model_fields}) for document in found]

    def event_counts(self, query: EventQuery) -> list[EventCount]:
        agent_id, module, status = _filters(query)
        raw = self._aql.rows(RAW_COUNTS, agent_id=agent_id, module=module, status=status, since=_time(query.since),
                             until=_time(query.until))
        buckets = self._aql.rows(BUCKETS, agent_id=agent_id, module=module, status=status)
        counts = [EventCount.model_validate({**row, "granularity": Granularity.RAW.value}) for row in raw]
        counts += [EventCount.model_validate({name: value for name, value in document.items()
                                              if name in EventCount.model_fields}) for document in buckets]
        return overlapping(counts, query)

    def roll_up_events(self, now: datetime, retention: RetentionPolicy) -> RollupSummary:
        cut = cutoffs(now, retention)
        raw_before = stored_time(cut.raw_before)
        tiers = [(Granularity.HOUR, cut.hourly_before), (Granularity.DAY, cut.daily_before)]
        if cut.weekly_before is not None:
            tiers.append((Granularity.WEEK, cut.weekly_before))
        with self._aql.transaction(WRITTEN_BY_ROLLUP):
            rows = [CountRow(Granularity.RAW, datetime.fromisoformat(f"{row['hour']}:00:00+00:00"),
                             (row["agent_id"], row["module"], row["status"]), row["count"])
                    for row in self._aql.rows(RAW_BY_HOUR_BEFORE, before=raw_before, hour_start=0,
                                              hour_length=_HOUR_TEXT)]
            keys: list[str] = []
            for granularity, before in tiers:
                for bucket in self._aql.rows(BUCKETS_BEFORE, granularity=granularity.value,
                                             before=stored_time(before)):
                    keys.append(bucket["_key"])
                    rows.append(CountRow(granularity, datetime.fromisoformat(bucket["start"]),
                                         (bucket["agent_id"], bucket["module"], bucket["status"]), bucket["count"]))
            plan = roll_up(rows, now, retention)
            self._aql.rows(REMOVE_RAW_BEFORE, before=raw_before)
            self._aql.rows(REMOVE_BUCKETS, keys=keys)
            self._aql.rows(ADD_TO_BUCKETS, buckets=[_bucket_document(row) for row in plan.upsert])
            reports = self._aql.first(PRUNE_OLD_REPORTS, before=stored_time(reports_before(now, retention)))
            batch_ids = self._aql.rows(REMOVE_BATCH_IDS_BEFORE, before=stored_time(batch_ids_before(now, retention)))
            self._aql.rows(SET_ROLLED_UP_AT, key=document_key(ROLLUP_META_KEY), time=stored_time(now))
        return RollupSummary(moved=sum(row.count for row in plan.upsert), expired=sum(row.count for row in plan.expired),
                             reports_pruned=int(reports or 0), batch_ids_pruned=len(batch_ids))


def _time(value: datetime | None) -> str | None:
    return stored_time(value) if value is not None else None
