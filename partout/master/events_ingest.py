"""`EventIngestActor`: agents' event batches from the events stream (a durable JetStream
consumer the masters share), into the store, out again as node events for integrations.

The agent id is the SUBJECT's (`partout.agent.<id>.events`: an agent may publish on its own
subjects only), so a batch naming another agent is forged: dropped, counted, and its
sender told. A malformed or oversized batch is dropped the same way, with parse_batch's
reason. Dropped batches are acknowledged: they never get better.

A batch is acknowledged once the store has it; the store is idempotent by batch id, so a
redelivery (a master killed before its ack) is counted once, and only a newly stored batch
is republished, measured by the throttle and matched against the trigger rules. (A master
killed between storing and republishing loses those node events and rule hits, never the
stored counts.)
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from partout import subjects
from partout.bus.messages import JetStreamDelivery
from partout.events.counts import node_events
from partout.events.notices import EVENTS_COMMAND, rejection_parameters
from partout.events.wire import MAX_BATCH_BYTES, BatchRejected, EventBatch, parse_batch
from partout.master.address import Address
from partout.master.events_config import EventsConfig
from partout.master.guard import SecurityCounters
from partout.master.store.base import Store
from partout.master.supervisor import Child, SupervisedActor
from partout.master.trigger_rules import RuleMatcher
from partout.wire import encode
from partout.wire.fleet import Control

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

MAX_BATCH_DELIVERIES = 20  # a batch the store keeps failing on is poison: give up on it
MAX_NOTICE_MEMORY = 10_000  # agents remembered for the notice gap; beyond it the memory starts over


@dataclass(frozen=True)
class BatchStored:
    """Told to the throttle for each newly stored batch; `received_at` in epoch seconds."""

    batch: EventBatch
    received_at: float


class EventIngestActor(SupervisedActor):
    def __init__(self, store: Store, *, bus: Bus | None, throttle: Address | None, settings: EventsConfig,
                 counters: SecurityCounters | None = None, clock: Callable[[], datetime] | None = None,
                 rules: RuleMatcher | None = None, triggers: Address | None = None,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._store = store
        self._bus = bus
        self._throttle = throttle
        self._settings = settings
        self._counters = counters or SecurityCounters()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rules = rules if rules and triggers is not None else None  # no rules: nothing is looked at
        self._triggers = triggers
        self._noticed: dict[str, float] = {}  # agent id -> when it was last told of a dropped batch
        self.batches_stored = 0
        self.batches_duplicate = 0
        self.batches_given_up = 0  # poison: the store failed on it MAX_BATCH_DELIVERIES times
        self.events_stored = 0  # the sum of the stored batches' counts
        self.rejected: Counter[str] = Counter()  # by reason: malformed, oversized, forged, subject

    def handle(self, message: object) -> None:
        if isinstance(message, JetStreamDelivery):
            self._batch(message)
        else:
            super().handle(message)

    def _batch(self, delivery: JetStreamDelivery) -> None:
        agent_id = subjects.agent_of(delivery.subject)
        if agent_id is None or not delivery.subject.endswith(".events"):
            self._drop(delivery, None, "subject", None, f"not an events subject: {delivery.subject[:200]}")
            return
        try:
            batch = parse_batch(delivery.data)
        except BatchRejected as rejected:
            kind = "oversized" if len(delivery.data) > MAX_BATCH_BYTES else "malformed"
            self._drop(delivery, agent_id, kind, None, rejected.reason)
            return
        if batch.agent_id != agent_id:
            self._drop(delivery, agent_id, "forged", batch.batch_id,
                       f"the batch names agent {batch.agent_id!r}, but was sent on agent {agent_id!r}'s subject")
            return
        received_at = self._clock()
        try:
            stored = self._store.add_event_batch(batch, received_at=received_at, retention=self._settings.retention)
        except Exception as error:
            log.warning("event batch not stored", extra={"agent_id": agent_id, "batch_id": batch.batch_id,
                                                         "error": str(error), "delivered": delivery.delivered})
            if delivery.retry(MAX_BATCH_DELIVERIES, what="event batch"):
                self.batches_given_up += 1
            return
        if not stored:
            delivery.ack()
            self.batches_duplicate += 1
            return
        self.batches_stored += 1
        self.events_stored += batch.count
        if batch.alive:
            self._seen(agent_id)
        self._republish(batch, received_at)
        delivery.ack()
        if self._throttle is not None:
            self._throttle.tell(BatchStored(batch, received_at.timestamp()))
        if self._rules is not None and self._triggers is not None:
            for hit in self._rules.hits(batch):  # the router checks `from` and coalesces
                self._triggers.tell(hit)

    def _seen(self, agent_id: str) -> None:
        """An alive message (at least daily when nothing happens) keeps the agent's last_seen."""
        try:
            self._store.touch(agent_id)
        except Exception as error:  # e.g. revoked and forgotten meanwhile: the batch is stored anyway
            log.info("alive message from an unknown agent", extra={"agent_id": agent_id, "error": str(error)})

    def _republish(self, batch: EventBatch, received_at: datetime) -> None:
        if self._bus is None or not self._settings.republish:
            return
        for event in node_events(batch, received_at):
            self._bus.publish(event.subject(), encode(event))

    def _drop(self, delivery: JetStreamDelivery, agent_id: str | None, kind: str, batch_id: str | None,
              reason: str) -> None:
        delivery.ack()
        self.rejected[kind] += 1
        self._counters.count(f"events.{kind}", agent_id=agent_id, why=reason[:200])
        if agent_id is not None:
            self._notify(agent_id, batch_id, f"{kind}: {reason}")

    def _notify(self, agent_id: str, batch_id: str | None, reason: str) -> None:
        """Tell the sender, at most once per notice gap (a flood of bad batches is not
        answered with a flood of notices)."""
        if self._bus is None:
            return
        now = time.monotonic()
        if now - self._noticed.get(agent_id, -self._settings.notice_gap - 1) < self._settings.notice_gap:
            return
        if len(self._noticed) >= MAX_NOTICE_MEMORY:
            self._noticed.clear()
        self._noticed[agent_id] = now
        control = Control(command=EVENTS_COMMAND, parameters=rejection_parameters(batch_id, reason), sent_at=datetime.now(UTC))
        self._bus.publish(subjects.agent_control(agent_id), encode(control))


__all__ = ["BatchStored", "EventIngestActor"]
