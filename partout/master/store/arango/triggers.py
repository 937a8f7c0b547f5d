"""Triggers in ArangoDB: one document per trigger (`_key` = document_key(trigger id)), so a
second record of one id is refused by the key itself."""

from __future__ import annotations

from partout.master.store.arango.aql import Query, QueryRunner
from partout.master.store.arango.documents import record, stored_time, timed_document
from partout.master.store.arango.schema import document_key
from partout.master.store.trigger_records import TriggerQuery, TriggerRecord

INSERT = Query("""
INSERT @trigger INTO @@triggers
""")

NEWEST = Query("""
FOR trigger IN @@triggers
  FILTER @name == null OR trigger.name == @name
  FILTER @agent_id == null OR @agent_id IN trigger.reached
  FILTER @since == null OR trigger.received_at >= @since
  SORT trigger.received_at DESC, trigger._key DESC
  LIMIT @count
  RETURN trigger
""")


class TriggerMethods:
    """The triggers part of `Store`."""

    _aql: QueryRunner

    def record_trigger(self, trigger: TriggerRecord) -> bool:
        document = {**timed_document(trigger, received_at=trigger.received_at),
                    "_key": document_key(trigger.trigger_id)}
        return self._aql.insert_once(INSERT, trigger=document)

    def triggers(self, query: TriggerQuery) -> list[TriggerRecord]:
        since = stored_time(query.since) if query.since is not None else None
        found = self._aql.rows(NEWEST, name=query.name, agent_id=query.agent_id, since=since, count=query.limit)
        return [record(TriggerRecord, document) for document in found]
