"""`InventoryActor`: answers agents' `p2.nodes` requests on `partout.inventory.<agent id>`
(queue group), read-only, and records what each agent asked and got (the dependency
tracker, partout.master.dependencies, re-applies it when that answer changes).

    partout.inventory.<id>  -> InventoryRequest {query, fields, scope, compile_id}
                            <- InventoryReply {ok, rows, warnings, error} in _INBOX_<id>.…

Who asks is the subject's agent id (only that agent may publish there); the answer goes
only into that agent's own inbox, whatever reply subject the request names (a request
naming another is dropped and counted: the master publishes with `>` rights and must not
be a confused deputy). An agent sees the approved nodes of its own environment; another
environment's, or all of them, only when the master's `inventory_scope` is "all".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from partout import subjects
from partout.bus.messages import BusMessage
from partout.errors import PartoutError
from partout.master.guard import SecurityCounters, reply_allowed
from partout.master.ratelimit import RequestLimits, TokenBucketSpec
from partout.master.store.base import AgentStatus, DependencyRecord, InventoryScope, Store
from partout.master.store_actor import StoreHandle
from partout.master.supervisor import Child, SupervisedActor
from partout.wire import decode, encode
from partout.wire.inventory import MAX_INVENTORY_REQUEST_BYTES, InventoryReply, InventoryRequest

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.inventory import Query

log = logging.getLogger(__name__)

# a compile asks a few queries; a policy calling p2.nodes in a loop, or a hostile agent,
# spends only its own budget
PER_AGENT = TokenBucketSpec(rate=20.0, burst=100.0)
OVERALL = TokenBucketSpec(rate=5000.0, burst=10000.0)


def answer_digest(rows: Sequence[dict[str, Any]]) -> str:
    """sha256 of the rows' canonical JSON: equal answers, equal digests."""
    canonical = json.dumps(list(rows), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope_environment(scope: InventoryScope, environment: str | None) -> str | None:
    """The environment an answer is limited to: the asker's, or None (every one) for "all"."""
    return None if scope == "all" else environment


def nodes_answer(store: Store, query: Query, fields: Sequence[str], scope: InventoryScope,
                 environment: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """What `p2.nodes` answers: approved nodes only (a pending or revoked node is no backend)."""
    found = store.inventory(query, fields, environment=scope_environment(scope, environment),
                            status=AgentStatus.APPROVED)
    return list(found.rows), list(found.warnings)


def answer_agent(store: Store, agent_id: str, request: InventoryRequest, query: Query,
                 allowed: InventoryScope) -> InventoryReply:
    """On the store thread, in one go: who asks, the answer, the record of the dependency."""
    agent = store.get_agent(agent_id)
    if agent is None or agent.status is not AgentStatus.APPROVED or agent.agent_id != agent_id:
        return InventoryReply(ok=False, error="this agent is not approved")
    if request.forget:
        store.forget_dependencies(agent_id)
        return InventoryReply(ok=True)
    if request.scope == "all" and allowed != "all":
        return InventoryReply(ok=False, error=f"p2.nodes(scope='all') is refused: this master limits inventory "
                                              f"answers to the agent's environment ({agent.environment}); set "
                                              "inventory_scope = 'all' in the master config to allow it")
    rows, warnings = nodes_answer(store, query, request.fields, request.scope, agent.environment)
    store.record_dependency(DependencyRecord(
        agent_id=agent_id, query=query.canonical, fields=request.fields, scope=request.scope,
        environment=agent.environment, digest=answer_digest(rows), compile_id=request.compile_id))
    return InventoryReply(ok=True, rows=rows, warnings=warnings)


class InventoryActor(SupervisedActor):
    def __init__(self, bus: Bus, store: StoreHandle, *, scope: InventoryScope = "environment",
                 counters: SecurityCounters | None = None, limits: RequestLimits | None = None,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._bus = bus
        self._store = store
        self._scope: InventoryScope = scope
        self.counters = counters or SecurityCounters()
        self._limits = limits or RequestLimits(PER_AGENT, OVERALL)
        self.answered = 0

    def handle(self, message: object) -> None:
        if not isinstance(message, BusMessage):
            return super().handle(message)
        agent_id = subjects.inventory_requester(message.subject)
        if agent_id is None:
            self.counters.count("inventory.bad-subject", subject=message.subject[:200])
            return None
        # only the asking agent's own inbox gets an answer, whatever the request says
        if not reply_allowed(message.reply, agent_id, self.counters, "inventory"):
            return None
        refused = self._limits.admit(agent_id)
        if refused is not None:
            self.counters.count(f"inventory.rate-{refused}", agent_id=agent_id)
            return None
        self._bus.publish(message.reply, encode(self.answer(agent_id, message.data)))
        self.answered += 1
        return None

    def answer(self, agent_id: str, data: bytes) -> InventoryReply:
        from partout.inventory import Query, QueryError, parse_field

        if len(data) > MAX_INVENTORY_REQUEST_BYTES:
            self.counters.count("inventory.oversized", agent_id=agent_id)
            return InventoryReply(ok=False, error="inventory request too large")
        request = decode(InventoryRequest, data)
        if request is None:
            self.counters.count("inventory.malformed", agent_id=agent_id)
            return InventoryReply(ok=False, error="malformed inventory request")
        try:
            query = Query.parse(request.query if not request.forget else "true")
            for name in request.fields:
                parse_field(name)
        except QueryError as error:
            return InventoryReply(ok=False, error=str(error))
        try:
            return self._store.run(answer_agent, agent_id, request, query, self._scope)
        except PartoutError as error:
            return InventoryReply(ok=False, error=str(error))


__all__ = ["InventoryActor", "answer_agent", "answer_digest", "nodes_answer", "scope_environment"]
