"""The outbox child: run reports and event batches reach JetStream through an on-disk spool.

Everything is written to the spool (partout.events.spool, `<state_dir>/spool.db`, 0600,
committed before the next message is taken) and then published from it, oldest first, one
message at a time so that the stream receives them in order; the spool forgets a message
only once the server acknowledged it (message id = report id or batch id, so a re-send
after a lost ack, a new connection or a restart is stored once). A report therefore
survives a dead bus, a crash of this actor and a kill -9 of the agent.

While nothing drains (no connection, or publishes not acknowledged), event batches pile
up in the spool and are folded into coarser ones at its bound (counts are never dropped).
A report that does not fit (SpoolFull) stays in memory, is published after the spool's
contents, and the first such report is logged (once until the spool takes reports again).

Event counts not yet in a batch are kept beside it (partout.events.pending,
`<state_dir>/events-pending.db`): each report's counts until the batch carrying them is
spooled, and spooled at the next start of the events child if the agent was killed first.

The answers of the bus arrive as `PublishAck` messages (`reply_to`), so nothing here
blocks but the spool's own disk writes; that is why this child has a thread of its own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from partout import subjects
from partout.actors.supervisor import ThreadedChild, tell_later
from partout.agent.event_messages import PendingEvents, RecoverPending, SpoolBatch
from partout.agent.messages import OUTBOX, AgentContext, BusReady, SendReport
from partout.bus.messages import JetStreamPublish, PublishAck
from partout.retry import Backoff
from partout.wire import encode
from partout.wire.fleet import RunReport

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.events.pending import PendingLog
    from partout.events.spool import Spool

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.db"
PENDING_FILE = "events-pending.db"
ACK_TIMEOUT = 30.0
# a publish not answered this long after its own timeout is given up (the bus it went to stopped)
OVERDUE_MARGIN = 5.0
FLUSH_AT_STOP = 2.0
# in the error of a publish the client refuses for its size (nats-py's MaxPayloadError)
NEVER_SENT = "maximum payload exceeded"


@dataclass(eq=False)  # compared by identity: `_unspooled.remove(head)` removes that very entry
class _InFlight:
    """The message being published: `pending` attempts not answered yet."""

    message_id: str
    subject: str
    payload: bytes
    report: RunReport | None = None  # set for a report the spool had no room for (kept in memory)
    pending: int = 0
    attempt: int = 0
    future: pykka.Future[Any] | None = None  # the last attempt's (waited on at stop; `PublishAck` otherwise)


@dataclass(frozen=True)
class _Retry:
    generation: int


@dataclass(frozen=True)
class _Overdue:
    message_id: str
    attempt: int


class SpoolActor(ThreadedChild):
    name = OUTBOX

    def __init__(self, parent: pykka.ActorRef[Any], context: AgentContext) -> None:
        super().__init__(parent)
        self._context = context
        self._spool: Spool | None = None
        self._pending: PendingLog | None = None
        self._bus: Bus | None = None
        self._head: _InFlight | None = None
        self._unspooled: list[_InFlight] = []  # reports the spool had no room for, oldest first
        self._retries = Backoff(first=0.5, limit=10.0)
        self._waiting: int | None = None  # generation of the _Retry awaited, None when none is
        self._generation = 0
        self._failing = False  # publishes fail since the last success (logged once)
        self._full = False  # a report did not fit since the spool last took one (logged once)

    @property
    def spool(self) -> Spool:
        assert self._spool is not None, "the spool opens in begin()"
        return self._spool

    @property
    def pending(self) -> PendingLog:
        assert self._pending is not None, "the pending counts open in begin()"
        return self._pending

    def begin(self) -> None:
        from partout.events.pending import PendingLog
        from partout.events.spool import Spool

        config = self._context.config
        self._spool = Spool(config.state_dir / SPOOL_FILE, max_bytes=config.events.spool_max_bytes)
        self._pending = PendingLog(config.state_dir / PENDING_FILE)
        if len(self._spool):
            log.info("spooled messages from before are sent once connected",
                     extra={"messages": len(self._spool), "bytes": self._spool.used_bytes})

    def handle(self, message: object) -> object:
        match message:
            case SendReport(report):
                self._put_report(report)
                self._drain()
            case SpoolBatch(batch):
                self.spool.put_batch(subjects.agent_events(batch.agent_id), batch)
                self.pending.forget(batch.batch_id)
                self._drain()
            case PendingEvents(delta):
                self.pending.put(delta)
            case RecoverPending():
                self._recover()
            case BusReady(bus):
                replaced, self._bus = bus is not self._bus, bus
                # a new connection: what went on the old one may never be answered, try again
                # at once; a mended one: the bus retries what is on its way by itself
                if self._head is not None and (replaced or not self._head.pending):
                    self._waiting = None
                    self._publish(self._head)
                self._drain()
            case PublishAck():
                self._answered(message)
            case _Retry(generation) if generation == self._waiting:
                self._waiting = None
                if self._head is not None:
                    self._publish(self._head)
            case _Overdue(message_id, attempt):
                head = self._head
                if head is not None and head.message_id == message_id and head.attempt == attempt and head.pending:
                    head.pending = 0
                    self._failed(head, "no answer from the bus")
            case _Retry():
                pass  # replaced by a later try
            case _:
                return super().handle(message)
        return None

    def on_stop(self) -> None:
        if self._spool is None:
            return
        try:
            if self.failed:  # the successor sends them (the spooled ones are on disk already)
                for entry in self._unspooled:
                    if entry.report is not None:
                        self.bounce(SendReport(entry.report))
            else:
                self._flush(FLUSH_AT_STOP)
        finally:
            self._spool.close()
            if self._pending is not None:
                self._pending.close()

    # -- putting -------------------------------------------------------------------------

    def _recover(self) -> None:
        """Spool the counts of periods a killed agent cut short, each under its batch's own id."""
        recovered = self.pending.recover()
        for batch in recovered:
            self.spool.put_batch(subjects.agent_events(batch.agent_id), batch)
            self.pending.forget(batch.batch_id)
        if recovered:
            log.info("event counts not sent before the agent stopped are spooled",
                     extra={"batches": len(recovered), "events": sum(batch.count for batch in recovered)})
            self._drain()

    def _put_report(self, report: RunReport) -> None:
        from partout.events.spool import SpoolFull

        subject, payload = subjects.agent_report(report.agent_id), encode(report)
        try:
            self.spool.put_report(subject, report.report_id, payload)
        except SpoolFull as error:
            self._unspooled.append(_InFlight(report.report_id, subject, payload, report=report))
            if not self._full:
                log.error("report kept in memory: the spool has no room for it (sent after the spool drains; "
                          "lost if the agent stops first)",
                          extra={"report_id": report.report_id, "error": str(error)})
            self._full = True
            return
        if self._full:
            log.info("the spool takes reports again", extra={"in_memory": len(self._unspooled)})
            self._full = False

    # -- draining ------------------------------------------------------------------------

    def _drain(self) -> None:
        """Publish the oldest message unless one is on its way (order is kept)."""
        if self._bus is None or self._head is not None:
            return
        self._head = self._oldest()
        if self._head is not None:
            self._publish(self._head)

    def _oldest(self) -> _InFlight | None:
        spooled = self.spool.peek(1)
        if spooled:
            return _InFlight(spooled[0].message_id, spooled[0].subject, spooled[0].payload)
        return self._unspooled[0] if self._unspooled else None

    def _publish(self, head: _InFlight, timeout: float = ACK_TIMEOUT) -> None:
        assert self._bus is not None
        head.attempt += 1
        head.pending += 1
        head.future = pykka.ThreadingFuture()
        try:
            self._bus.ref.tell(JetStreamPublish(head.subject, head.payload, message_id=head.message_id,
                                                timeout=timeout, future=head.future, reply_to=self.actor_ref))
        except pykka.ActorDeadError:  # that connection is gone; the next BusReady brings another
            head.pending -= 1
            head.future = None
            return
        tell_later(timeout + OVERDUE_MARGIN, self.actor_ref, _Overdue(head.message_id, head.attempt))

    def _answered(self, ack: PublishAck) -> None:
        head = self._head
        if head is None or ack.message_id != head.message_id:
            return  # a late answer about a message acknowledged already
        head.pending = max(0, head.pending - 1)
        if ack.error and NEVER_SENT in ack.error:
            log.error("message dropped: larger than the server takes, it can never be sent",
                      extra={"message_id": head.message_id, "subject": head.subject, "bytes": len(head.payload)})
        elif ack.error:
            if not head.pending:
                self._failed(head, ack.error)
            return
        self._forget(head)
        self._retries.reset()
        if self._failing:
            log.info("the outbox publishes again", extra={"spooled": len(self.spool)})
            self._failing = False
        self._drain()

    def _forget(self, head: _InFlight) -> None:
        if head.report is not None:
            self._unspooled.remove(head)
        else:
            self.spool.ack(head.message_id)
        if head is self._head:
            self._head = None
            self._waiting = None

    def _failed(self, head: _InFlight, error: str) -> None:
        delay = self._retries.next()
        if not self._failing:
            log.warning("publish not acknowledged; spooling until it is",
                        extra={"message_id": head.message_id, "error": error, "retry_in": round(delay, 2)})
            self._failing = True
        self._generation += 1
        self._waiting = self._generation
        tell_later(delay, self.actor_ref, _Retry(self._generation))

    def _flush(self, timeout: float) -> None:
        """At stop: wait for the message on its way, publish what is left and wait for each
        ack, until `timeout`. What stays in the spool goes at the next start; reports held
        in memory would be lost: say so."""
        deadline = time.monotonic() + timeout
        while self._bus is not None and time.monotonic() < deadline:
            head = self._head = self._head or self._oldest()
            if head is None:
                break
            remaining = max(0.1, deadline - time.monotonic())
            if head.future is None or not head.pending:
                self._publish(head, timeout=remaining)
            try:
                assert head.future is not None
                head.future.get(timeout=remaining)
            except Exception:
                break
            self._forget(head)
        if len(self.spool):
            log.info("messages stay spooled for the next start", extra={"messages": len(self.spool)})
        for entry in self._unspooled:
            log.error("report lost: not acknowledged and not spooled (the spool was full)",
                      extra={"report_id": entry.message_id})


__all__ = ["ACK_TIMEOUT", "SPOOL_FILE", "SpoolActor"]
