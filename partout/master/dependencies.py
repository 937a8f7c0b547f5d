"""`DependencyTrackerActor`: when the inventory changes so that an answer an agent's policy
got (`p2.nodes`) would change, tell exactly that agent `data-changed` on its control subject;
it recompiles and applies.

    store write (new facts, approval, revocation)  --InventoryChanged-->  tracker
      gathers changes for a moment (a burst is one check), then, per distinct
      (query, fields, scope, environment) the store records agents asked: answer it anew;
      every approved agent whose recorded digest differs gets Control "data-changed",
      at most once per `window` seconds (later ones wait for the window's end, coalesced).

Nothing here is needed for correctness across restarts: the records are in the store, and
an agent recompiles on its interval anyway. Changes of `last_seen` alone trigger nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from partout import subjects
from partout.master.coalesce import KeyedWindow
from partout.master.inventory import answer_digest, nodes_answer
from partout.master.store.base import AgentStatus, DependencyRecord, InventoryScope, Store
from partout.master.store_actor import StoreHandle
from partout.master.supervisor import Child, SupervisedActor, tell_later
from partout.wire import encode
from partout.wire.fleet import Control

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

GATHER = 0.2  # seconds of changes checked together (at most the window)


@dataclass(frozen=True)
class InventoryChanged:
    """An agent's facts, approval or status changed (told by the store handle)."""

    key: str


@dataclass(frozen=True)
class _Check:
    """Scheduled by the tracker itself: check the recorded answers now."""


@dataclass(frozen=True)
class _Due:
    """Scheduled by the tracker itself: the window of these agents is over."""


DependencyKey = tuple[str, tuple[str, ...], InventoryScope, str | None]


def changed_agents(store: Store) -> dict[str, list[str]]:
    """On the store thread: approved agent id -> the queries whose answer now differs from
    the one it got. Each distinct query is answered once for all the agents that asked it."""
    from partout.inventory import Query

    environments = {agent.agent_id: agent.environment for agent in store.agents(AgentStatus.APPROVED)}
    groups: dict[DependencyKey, list[DependencyRecord]] = defaultdict(list)
    for record in store.dependencies():
        if record.agent_id in environments:
            environment = environments[record.agent_id] if record.scope != "all" else None
            groups[(record.query, record.fields, record.scope, environment)].append(record)
    changed: dict[str, list[str]] = defaultdict(list)
    for (text, fields, scope, environment), records in groups.items():
        query = Query.parse(text, max_length=None)
        rows, _ = nodes_answer(store, query, fields, scope, environment)
        digest = answer_digest(rows)
        for record in records:
            if record.digest != digest:
                changed[record.agent_id].append(text)
    return dict(changed)


class DependencyTrackerActor(SupervisedActor):
    def __init__(self, bus: Bus, store: StoreHandle, *, window: float = 1.0, child: Child | None = None) -> None:
        super().__init__(child=child)
        self._bus = bus
        self._store = store
        self._window = window
        self._check_scheduled = False
        # agent id -> the queries whose answers changed, at most one send per window
        self._notices: KeyedWindow[list[str]] = KeyedWindow(
            window, send=self._send, merge=lambda old, new: sorted(set(old) | set(new)),
            schedule=lambda delay: tell_later(delay, self.actor_ref, _Due()))
        self.checks = 0  # checks of the recorded answers done

    @property
    def sent(self) -> int:
        """data-changed messages sent."""
        return self._notices.sent

    def handle(self, message: object) -> None:
        match message:
            case InventoryChanged():
                if not self._check_scheduled:
                    self._check_scheduled = True
                    tell_later(min(GATHER, self._window), self.actor_ref, _Check())
            case _Check():
                self._check_scheduled = False
                self._check()
            case _Due():
                self._notices.due()
            case _:
                super().handle(message)

    def _check(self) -> None:
        self.checks += 1
        for agent_id, queries in self._store.run(changed_agents).items():
            self._notices.add(agent_id, sorted(set(queries)))

    def _send(self, agent_id: str, queries: list[str]) -> None:
        control = Control(command="data-changed", parameters={"queries": queries}, sent_at=datetime.now(UTC))
        self._bus.publish(subjects.agent_control(agent_id), encode(control))
        log.info("data changed for an agent's policy", extra={"agent_id": agent_id, "queries": queries})


__all__ = ["DependencyTrackerActor", "InventoryChanged", "changed_agents"]
