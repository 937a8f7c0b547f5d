"""The inventory in ArangoDB: inventory queries over the agents collection (the query's
FILTER from partout.inventory.aql, every value and attribute name a bind variable), and what
agents' policies asked (`inventory_dependencies`, `_key` = document_key(agent, query, fields,
scope)).

Not yet run against a server here: the contract tests cover it once PARTOUT_TEST_ARANGO_URL
is set. Known difference (partout.inventory.aql): `=~` uses ArangoDB's REGEX_TEST."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from partout.master.store.arango.aql import Query, QueryRunner
from partout.master.store.arango.documents import record, stored_time
from partout.master.store.arango.schema import document_key
from partout.master.store.base import AgentStatus, DependencyRecord

if TYPE_CHECKING:
    from partout.inventory import Answer
    from partout.inventory import Query as InventoryQuery

# `node` is the inventory document (partout.inventory.document) of one agent
NODES = Query("""
FOR agent IN @@agents
  FILTER @environment == null OR agent.environment == @environment
  FILTER @status == null OR agent.status == @status
  LET node = {
    id: NOT_NULL(agent.agent_id, agent.public_key), hostname: agent.hostname, environment: agent.environment,
    status: agent.status, last_seen: agent.last_seen, facts: agent.facts
  }
  FILTER_BY_QUERY
  RETURN node
""")

# does any agent in scope have this fact (present, not null)?
HAS_FACT = Query("""
FOR agent IN @@agents
  FILTER @environment == null OR agent.environment == @environment
  FILTER @status == null OR agent.status == @status
  LET node = { facts: agent.facts }
  FILTER_BY_QUERY
  LIMIT 1
  RETURN true
""")

FORGET_DEPENDENCIES = Query("""
FOR dependency IN @@inventory_dependencies
  FILTER dependency.agent_id == @agent_id
  REMOVE dependency IN @@inventory_dependencies
  RETURN OLD._key
""")

STALE_DEPENDENCIES = Query("""
FOR dependency IN @@inventory_dependencies
  FILTER dependency.agent_id == @agent_id AND dependency.compile_id != @compile_id
  REMOVE dependency IN @@inventory_dependencies
""")

GET_DEPENDENCY = Query("""
FOR dependency IN @@inventory_dependencies
  FILTER dependency._key == @document_key
  RETURN dependency
""")

PUT_DEPENDENCY = Query("""
UPSERT { _key: @document_key }
  INSERT @dependency
  REPLACE @dependency
  IN @@inventory_dependencies
  RETURN NEW
""")

DEPENDENCIES = Query("""
FOR dependency IN @@inventory_dependencies
  FILTER @agent_id == null OR dependency.agent_id == @agent_id
  SORT dependency.agent_id, dependency.query, dependency.fields_key, dependency.scope
  RETURN dependency
""")


class InventoryMethods:
    """The inventory part of `Store`."""

    _aql: QueryRunner

    def inventory(self, query: InventoryQuery, fields: Sequence[str] | None = None, *,
                  environment: str | None = None, status: AgentStatus | str | None = None) -> Answer:
        from partout.inventory import Answer, parse_field, select_fields, sort_documents, to_aql
        from partout.inventory.names import unknown_field_warning
        from partout.inventory.syntax import Exists

        for name in fields or ():
            parse_field(name)  # a bad field name fails before any work, as a QueryError
        wanted = AgentStatus(status).value if status is not None else None
        found = to_aql(query)
        nodes = self._aql.filtered_rows(NODES, (found.expression, found.bind_vars), environment=environment,
                                        status=wanted)
        rows = tuple(select_fields(node, fields) for node in sort_documents(nodes))
        warnings = []
        for field in query.fields:
            if field.source != "facts":
                continue
            probe = to_aql(Exists(field))
            if not self._aql.filtered_rows(HAS_FACT, (probe.expression, probe.bind_vars), environment=environment,
                                           status=wanted):
                warnings.append(unknown_field_warning(field, ()))
        return Answer(rows, tuple(warnings))

    def record_dependency(self, dependency: DependencyRecord) -> DependencyRecord:
        fields_key = json.dumps(list(dependency.fields))
        key = document_key(dependency.agent_id, dependency.query, fields_key, dependency.scope)
        self._aql.rows(STALE_DEPENDENCIES, agent_id=dependency.agent_id, compile_id=dependency.compile_id)
        before = self._aql.first(GET_DEPENDENCY, document_key=key)
        changed_at = (stored_time(dependency.asked_at) if before is None or before.get("digest") != dependency.digest
                      else before.get("changed_at"))
        document: dict[str, Any] = {
            **dependency.model_dump(mode="json"), "_key": key, "fields_key": fields_key,
            "asked_at": stored_time(dependency.asked_at), "changed_at": changed_at,
        }
        stored = self._aql.first(PUT_DEPENDENCY, retry_conflicts=True, document_key=key, dependency=document)
        return record(DependencyRecord, stored)

    def dependencies(self, agent_id: str | None = None) -> list[DependencyRecord]:
        return [record(DependencyRecord, found) for found in self._aql.rows(DEPENDENCIES, agent_id=agent_id)]

    def forget_dependencies(self, agent_id: str) -> int:
        return len(self._aql.rows(FORGET_DEPENDENCIES, retry_conflicts=True, agent_id=agent_id))
