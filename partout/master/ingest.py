"""`IngestActor`: agents' facts (core NATS, queue group) and run reports (JetStream).

The master's config names the fact sections it keeps (`fact_sections`); an agent that sends
others is told on its control subject which to send, and what it was not asked for is not
stored.

The agent id is taken from the SUBJECT, never from the payload: an agent's permissions
let it publish on its own subjects only, so the subject is the proof of who sent it.
A report is acknowledged only once the store has it; a master killed in between leaves
it unacknowledged and JetStream redelivers it (to this master after a restart, or to
another one of the group), and `add_report` being idempotent by report_id makes the
second delivery harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from partout import subjects
from partout.facts import PUBLISHED_SECTIONS, SECTIONS
from partout.master.store.base import Store
from partout.master.supervisor import Child, SupervisedActor
from partout.bus.messages import BusMessage, JetStreamDelivery

if TYPE_CHECKING:
    from partout.bus.facade import Bus
from partout.wire import decode, encode
from partout.wire.fleet import MAX_FACTS_BYTES, Control, FactsUpdate, RunReport

log = logging.getLogger(__name__)

# a report that fails this often is poison (a store bug, a huge payload): give up on it
MAX_REPORT_DELIVERIES = 20
# seconds before an agent that still sends other fact sections is told again
TELL_AGAIN_AFTER = 60.0


class IngestActor(SupervisedActor):
    def __init__(self, store: Store, *, bus: Bus | None = None, fact_sections: Iterable[str] | None = None,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._store = store
        self._bus = bus  # to tell an agent which fact sections to send (None: never tell)
        self._fact_sections = frozenset(PUBLISHED_SECTIONS if fact_sections is None else fact_sections)
        self._told: dict[str, float] = {}  # agent id -> when it was last told the sections
        self.facts_stored = 0
        self.reports_stored = 0  # newly stored
        self.reports_duplicate = 0  # delivered again, already in the store
        self.reports_given_up = 0  # poison: the store failed on it MAX_REPORT_DELIVERIES times

    def handle(self, message: object) -> None:
        match message:
            case JetStreamDelivery():
                self._report(message)
            case BusMessage():
                self._facts(message)
            case _:
                super().handle(message)

    def _facts(self, message: BusMessage) -> None:
        agent_id = subjects.agent_of(message.subject)
        if agent_id is None or len(message.data) > MAX_FACTS_BYTES:
            log.warning("facts dropped", extra={"subject": message.subject, "bytes": len(message.data)})
            return
        update = decode(FactsUpdate, message.data)
        if update is None:
            return
        self._ask_for_our_sections(agent_id, update.facts)
        # A section this master was configured not to keep is dropped (a store of packages
        # nobody asked for); keys it does not know are kept as sent (a newer agent's).
        facts = {name: value for name, value in update.facts.items()
                 if name in self._fact_sections or name not in SECTIONS}
        try:
            self._store.put_facts(agent_id, facts)
            self._store.touch(agent_id)
        except Exception as error:  # e.g. a revoked agent still connected for a moment
            log.warning("facts not stored", extra={"agent_id": agent_id, "error": str(error)})
            return
        self.facts_stored += 1

    def _ask_for_our_sections(self, agent_id: str, facts: dict[str, Any]) -> None:
        """Tell an agent that sends other sections than this master keeps which ones to
        send; at most once a minute per agent, whatever it keeps sending."""
        sent = frozenset(name for name in facts if name in SECTIONS)
        if self._bus is None or sent == self._fact_sections:
            return
        now = time.monotonic()
        if now - self._told.get(agent_id, -TELL_AGAIN_AFTER) < TELL_AGAIN_AFTER:
            return
        self._told[agent_id] = now
        control = Control(command="facts", parameters={"sections": sorted(self._fact_sections)})
        self._bus.publish(subjects.agent_control(agent_id), encode(control))

    def _report(self, delivery: JetStreamDelivery) -> None:
        agent_id = subjects.agent_of(delivery.subject)
        report = decode(RunReport, delivery.data)
        if agent_id is None or report is None:
            log.warning("report dropped", extra={"subject": delivery.subject})
            delivery.ack()  # malformed never gets better: do not have it redelivered forever
            return
        try:
            stored = self._store.add_report(agent_id, report.report, report_id=report.report_id,
                                            policy_digest=report.bundle_digest)
            self._store.touch(agent_id)
        except Exception as error:
            log.warning("report not stored", extra={"agent_id": agent_id, "report_id": report.report_id,
                                                    "error": str(error), "delivered": delivery.delivered})
            if delivery.retry(MAX_REPORT_DELIVERIES, what="report"):
                self.reports_given_up += 1
            return
        delivery.ack()
        if stored:
            self.reports_stored += 1
        else:
            self.reports_duplicate += 1
