"""The operator API's inventory verbs (partout.master.operator_api dispatches to these):

  agents.list      {where, status?, environment?}  -> {agents: [agent summary], warnings: [...]}
  inventory.query  {where, fields?, environment?, status?} -> {rows: [...], warnings: [...]}
  agents.show      adds `dependencies`: the p2.nodes queries the agent's policy asked, when
                   each was last asked and when its answer last changed

`where` is an inventory query (partout.inventory); one that does not parse is refused with
the parser's message (line, column and caret), a fact no agent has answers nothing with a
warning."""

from __future__ import annotations

from typing import Any

from partout.errors import PartoutError
from partout.master.store.base import AgentRecord, AgentStatus, Store

MAX_FIELDS = 64


def _where(arguments: dict[str, Any]) -> Any:
    from partout.inventory import Query

    text = arguments.get("where")
    if not isinstance(text, str) or not text.strip():
        raise PartoutError("give a query: where, e.g. role == \"web\"")
    return Query.parse(text)


def _status(arguments: dict[str, Any]) -> AgentStatus | None:
    status = arguments.get("status")
    if status is None:
        return None
    try:
        return AgentStatus(status)
    except ValueError:
        raise PartoutError(f"unknown status {status!r}; one of {', '.join(s.value for s in AgentStatus)}") from None


def agents_where(store: Store, arguments: dict[str, Any]) -> tuple[list[AgentRecord], list[str]]:
    """On the store thread: the agents the query matches (enrolment order), and warnings."""
    query, status = _where(arguments), _status(arguments)
    environment = arguments.get("environment")
    found = store.inventory(query, ["id"], environment=environment, status=status)
    matched = {row["id"] for row in found.rows}
    agents = [agent for agent in store.agents(status, environment) if agent.key in matched]
    return agents, list(found.warnings)


def inventory_query(store: Store, arguments: dict[str, Any]) -> dict[str, Any]:
    """On the store thread: the chosen fields of the matching agents (whole documents without `fields`)."""
    query, status = _where(arguments), _status(arguments)
    fields = arguments.get("fields")
    if fields is not None and (not isinstance(fields, list) or len(fields) > MAX_FIELDS
                               or not all(isinstance(name, str) for name in fields)):
        raise PartoutError(f"fields: a list of at most {MAX_FIELDS} field names")
    found = store.inventory(query, fields, environment=arguments.get("environment"), status=status)
    return {"rows": list(found.rows), "warnings": list(found.warnings)}


def dependencies_of(store: Store, agent: AgentRecord) -> list[dict[str, Any]]:
    if not agent.agent_id:
        return []
    return [record.model_dump(mode="json", include={"query", "fields", "scope", "environment", "asked_at",
                                                    "changed_at"})
            for record in store.dependencies(agent.agent_id)]


__all__ = ["agents_where", "dependencies_of", "inventory_query"]
