"""`MasterInventory`: how `p2.nodes` reads the fleet during an agent's compile, by asking
the master on `partout.inventory.<agent id>` (the only inventory subject this agent may
publish on); the answer comes back in the agent's own inbox.

    inventory = MasterInventory(agent_id)
    inventory.use_bus(bus)                  # each new connection (BusReady)
    inventory.new_compile()                 # before each compile: its questions replace the last's
    compile_policy(path, facts, inventory=inventory)
    inventory.compiled()                    # it asked nothing: the master forgets the last's

The master remembers each question and its answer's digest, and sends `data-changed` on the
control subject when the answer changes; the agent then compiles and applies again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from partout import subjects
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

    def __init__(self, agent_id: str, *, timeout: float = ANSWER_TIMEOUT) -> None:
        self._subject = subjects.inventory_request(agent_id)
        self._inbox = f"{subjects.inbox_prefix(agent_id)}.inventory-forget"
        self._asked = False  # by the compile under way
        self._recorded = True  # the master may hold questions of an earlier compile (unknown after a start)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._bus: Bus | None = None
        self.compile_id = ""

    def use_bus(self, bus: Bus) -> None:
        with self._lock:
            self._bus = bus

    def new_compile(self) -> None:
        self.compile_id = uuid.uuid4().hex
        self._asked = False

    def compiled(self) -> None:
        """After a compile that succeeded: if it asked nothing, the master forgets what earlier
        compiles asked (else a policy that stopped calling p2.nodes would still be re-applied
        when those answers change). Fire and forget: the answer lands unread in our inbox."""
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
        with self._lock:
            bus = self._bus
        if bus is None:
            raise InventoryUnavailable("not connected to the master yet; the next run asks again")
        request = InventoryRequest(query=query, fields=tuple(fields), scope=scope, compile_id=self.compile_id)
        self._asked = True
        try:
            message = bus.request(self._subject, encode(request), timeout=self._timeout).get(
                timeout=self._timeout + 5)
        except Exception as error:
            raise InventoryUnavailable(f"the master did not answer within {self._timeout:g} s "
                                       f"({type(error).__name__}: {error}); the policy is not applied") from None
        reply = decode(InventoryReply, message.data)
        if reply is None:
            raise InventoryUnavailable("the master's answer is malformed")
        if not reply.ok:
            raise InventoryUnavailable(f"the master refused: {reply.error}")
        for warning in reply.warnings:
            log.warning("p2.nodes: %s", warning, extra={"query": query})
        return reply.rows


__all__ = ["ANSWER_TIMEOUT", "MasterInventory"]
