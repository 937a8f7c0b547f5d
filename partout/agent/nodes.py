"""`MasterInventory`: how `p2.nodes` reads the fleet during an agent's compile, by asking
the master on `partout.inventory.<agent id>` (the only inventory subject this agent may
publish on); the answer comes back in the agent's own inbox.

    inventory = MasterInventory(agent_id)
    inventory.use_bus(bus)                  # each new connection (BusReady)
    inventory.new_compile()                 # before each compile: its questions replace the last's
    compile_policy(path, facts, inventory=inventory)
    inventory.compiled()                    # it asked nothing: the master forgets the last's

The master remembers each question and its answer's digest, and sends `data-changed` on the
control subject when the answer changes; the agent then compiles and applies again. When the
master cannot be reached, the last answer to the same question (partout.agent.nodes_cache)
stands in, with a warning, and `stale` says so: the runner applies again once connected.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from partout import subjects
from partout.agent.nodes_cache import AnswerCache, answer_key
from partout.dsl.nodes import InventoryUnavailable, NodesScope
from partout.wire import decode, encode
from partout.wire.inventory import InventoryReply, InventoryRequest

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

ANSWER_TIMEOUT = 10.0  # seconds the master gets to answer one p2.nodes


class MasterInventory:
    """An `Inventory` (partout.dsl.nodes) answered by the master. Thread-safe: the compiler
    calls `nodes` on its thread while the runner hands it new connections."""

    def __init__(self, agent_id: str, *, timeout: float = ANSWER_TIMEOUT, cache: AnswerCache | None = None) -> None:
        self._subject = subjects.inventory_request(agent_id)
        self._inbox = f"{subjects.inbox_prefix(agent_id)}.inventory-forget"
        self._asked = False  # by the compile under way
        self._recorded = True  # the master may hold questions of an earlier compile (unknown after a start)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._bus: Bus | None = None
        self._cache = cache if cache is not None else AnswerCache(None)
        self.compile_id = ""
        self.stale = False  # a compile since the last connection used a cached answer

    def use_bus(self, bus: Bus) -> bool:
        """Use a new connection; True when a compile used cached answers meanwhile (the
        caller then applies again, with the master's)."""
        with self._lock:
            self._bus = bus
            stale, self.stale = self.stale, False
        return stale

    def new_compile(self) -> None:
        self.compile_id = uuid.uuid4().hex
        self._asked = False
        self._cache.new_compile()

    def compiled(self) -> None:
        """After a compile that succeeded: if it asked nothing, the master forgets what earlier
        compiles asked (else a policy that stopped calling p2.nodes would still be re-applied
        when those answers change). Fire and forget: the answer lands unread in our inbox."""
        self._cache.compiled()
        if self._asked:
            self._recorded = True
            return
        with self._lock:
            bus = self._bus
        if not self._recorded or bus is None:
            return
        request = InventoryRequest(query="", forget=True, compile_id=self.compile_id)
        bus.publish(self._subject, encode(request), reply=self._inbox)
        self._recorded = False

    def nodes(self, query: str, fields: Sequence[str], scope: NodesScope) -> list[dict[str, Any]]:
        key = answer_key(query, fields, scope)
        with self._lock:
            bus = self._bus
        if bus is None:
            return self._cached(key, query, "not connected to the master yet")
        request = InventoryRequest(query=query, fields=tuple(fields), scope=scope, compile_id=self.compile_id)
        self._asked = True
        try:
            message = bus.request(self._subject, encode(request), timeout=self._timeout).get(
                timeout=self._timeout + 5)
        except Exception as error:
            return self._cached(key, query, f"the master did not answer within {self._timeout:g} s "
                                            f"({type(error).__name__}: {error})")
        reply = decode(InventoryReply, message.data)
        if reply is None:
            raise InventoryUnavailable("the master's answer is malformed")
        if not reply.ok:  # a refusal is an answer: never overridden by an older one
            raise InventoryUnavailable(f"the master refused: {reply.error}")
        for warning in reply.warnings:
            log.warning("p2.nodes: %s", warning, extra={"query": query})
        self._cache.answered(key, reply.rows)
        return reply.rows

    def _cached(self, key: str, query: str, why: str) -> list[dict[str, Any]]:
        found = self._cache.fallback(key)
        if found is None:
            raise InventoryUnavailable(f"{why}; no earlier answer to this query is cached, so the policy is not "
                                       "applied (the next run asks again)")
        with self._lock:
            self.stale = True
        log.warning("p2.nodes: the master cannot answer; using its answer of %s", found.answered_at.isoformat(),
                    extra={"query": query, "reason": why})
        return found.rows


__all__ = ["ANSWER_TIMEOUT", "MasterInventory"]
