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
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from partout import subjects
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
        self._last_sent: dict[str, float] = {}  # agent id -> monotonic time of its last data-changed
        self._waiting: dict[str, list[str]] = {}  # agent id -> queries, until its window is over
        self._due_scheduled = False
        self.sent = 0  # data-changed messages sent
        self.checks = 0  # checks of the recorded answers done

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
                self._due_scheduled = False
                self._send_due()
            case _:
                super().handle(message)

    def _check(self) -> None:
        self.checks += 1
        for agent_id, queries in self._store.run(changed_agents).items():
            self._waiting.setdefault(agent_id, [])
            self._waiting[agent_id] = sorted(set(self._waiting[agent_id]) | set(queries))
        self._send_due()

    def _send_due(self) -> None:
        now = time.monotonic()
        # forget windows that are over: the table stays the size of the recent notifications
        self._last_sent = {agent_id: at for agent_id, at in self._last_sent.items() if now - at < self._window}
        later: list[float] = []
        for agent_id in sorted(self._waiting):
            last = self._last_sent.get(agent_id)
            if last is not None and now - last < self._window:
                later.append(last + self._window)
                continue
            self._send(agent_id, self._waiting.pop(agent_id), now)
        if later and not self._due_scheduled:
            self._due_scheduled = True
            tell_later(max(0.0, min(later) - now), self.actor_ref, _Due())

    def _send(self, agent_id: str, queries: list[str], now: float) -> None:
        control = Control(command="data-changed", parameters={"queries": queries}, sent_at=datetime.now(UTC))
        self._bus.publish(subjects.agent_control(agent_id), encode(control))
        self._last_sent[agent_id] = now
        self.sent += 1
        log.info("data changed for an agent's policy", extra={"agent_id": agent_id, "queries": queries})


__all__ = ["DependencyTrackerActor", "InventoryChanged", "changed_agents"]
