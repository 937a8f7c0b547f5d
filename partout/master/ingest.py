"""`IngestActor`: agents' facts (core NATS, queue group) and run reports (JetStream).

The agent id is taken from the SUBJECT, never from the payload: an agent's permissions
let it publish on its own subjects only, so the subject is the proof of who sent it.
A report is acknowledged only once the store has it; a master killed in between leaves
it unacknowledged and JetStream redelivers it (to this master after a restart, or to
another one of the group), and `add_report` being idempotent by report_id makes the
second delivery harmless.
"""

from __future__ import annotations

import logging
from typing import Any

import pykka

from partout.master.store_actor import StoreHandle
from partout.nats.messages import BusMessage, JetStreamDelivery
from partout.wire import decode
from partout.wire.fleet import MAX_FACTS_BYTES, FactsUpdate, RunReport

log = logging.getLogger(__name__)

# a report that fails this often is poison (a store bug, a huge payload): give up on it
MAX_REPORT_DELIVERIES = 20


def agent_of(subject: str) -> str | None:
    """`partout.agent.<id>.<what>` -> id."""
    parts = subject.split(".")
    return parts[2] if len(parts) == 4 and parts[:2] == ["partout", "agent"] else None


class IngestActor(pykka.ThreadingActor):
    def __init__(self, store: StoreHandle) -> None:
        super().__init__()
        self._store = store
        self.facts_stored = 0
        self.reports_stored = 0  # newly stored
        self.reports_duplicate = 0  # delivered again, already in the store

    def on_receive(self, message: Any) -> Any:
        match message:
            case JetStreamDelivery():
                self._report(message)
            case BusMessage():
                self._facts(message)
            case _:
                return super().on_receive(message)
        return None

    def _facts(self, message: BusMessage) -> None:
        agent_id = agent_of(message.subject)
        if agent_id is None or len(message.data) > MAX_FACTS_BYTES:
            log.warning("facts dropped", extra={"subject": message.subject, "bytes": len(message.data)})
            return
        update = decode(FactsUpdate, message.data)
        if update is None:
            return
        try:
            self._store.get("put_facts", agent_id, update.facts)
            self._store.get("touch", agent_id)
        except Exception as error:  # e.g. a revoked agent still connected for a moment
            log.warning("facts not stored", extra={"agent_id": agent_id, "error": str(error)})
            return
        self.facts_stored += 1

    def _report(self, delivery: JetStreamDelivery) -> None:
        agent_id = agent_of(delivery.subject)
        report = decode(RunReport, delivery.data)
        if agent_id is None or report is None:
            log.warning("report dropped", extra={"subject": delivery.subject})
            delivery.ack()  # malformed never gets better: do not have it redelivered forever
            return
        try:
            stored = self._store.get("add_report", agent_id, report.report, report_id=report.report_id,
                                     policy_digest=report.bundle_digest)
            self._store.get("touch", agent_id)
        except Exception as error:
            log.warning("report not stored", extra={"agent_id": agent_id, "report_id": report.report_id,
                                                    "error": str(error), "delivered": delivery.delivered})
            if delivery.delivered >= MAX_REPORT_DELIVERIES:
                delivery.ack()
            else:
                delivery.nak()
            return
        delivery.ack()
        if stored:
            self.reports_stored += 1
        else:
            self.reports_duplicate += 1
