"""The facts child: publishes the sections of the facts the master asks for
(`fact_sections`, told on the control subject), only when they changed, and again on
every new connection (a restarted master hears from every agent)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pykka

from partout import subjects
from partout.actors.supervisor import PooledChild, Send
from partout.agent.facts import facts_hash, facts_payload, published_sections
from partout.agent.messages import FACTS, RUNNER, AgentContext, BusReady, FactSections, FactsGathered, ResendFacts
from partout.wire import encode
from partout.wire.fleet import MAX_FACTS_BYTES, FactsUpdate

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)


def facts_update(agent_id: str, facts: Any, sections: frozenset[str]) -> FactsUpdate:
    """`sections` of `facts` with their hash (over the size limit: the largest left out)."""
    payload = facts_payload(facts, sections, limit=MAX_FACTS_BYTES - 4096)
    return FactsUpdate(agent_id=agent_id, facts=payload, facts_hash=facts_hash(payload))


def publish_facts(bus: Bus, update: FactsUpdate) -> None:
    bus.publish(subjects.agent_facts(update.agent_id), encode(update))


class FactsActor(PooledChild):
    name = FACTS

    def __init__(self, parent: pykka.ActorRef[Any], context: AgentContext) -> None:
        super().__init__(parent)
        self._context = context
        self._bus: Bus | None = None
        self._facts: Any = None
        self._sections = published_sections()  # until the master asks for others
        self._sent_hash = ""

    def begin(self) -> None:
        self.parent.tell(Send(RUNNER, ResendFacts()))  # we may be a successor: the runner has them

    def handle(self, message: object) -> object:
        match message:
            case BusReady(bus):
                self._bus = bus
                self._publish(force=True)
            case FactsGathered(facts, force):
                self._facts = facts
                self._publish(force=force)
            case FactSections(sections) if sections != self._sections:
                log.info("the master asks for other fact sections", extra={"sections": sorted(sections)})
                self._sections = sections
                self._publish(force=True)
            case FactSections():
                pass
            case _:
                return super().handle(message)
        return None

    def _publish(self, *, force: bool) -> None:
        if self._bus is None or self._facts is None:
            return
        update = facts_update(self._context.agent_id, self._facts, self._sections)
        if force or update.facts_hash != self._sent_hash:
            publish_facts(self._bus, update)
            self._sent_hash = update.facts_hash


__all__ = ["FactsActor", "facts_update", "publish_facts"]
