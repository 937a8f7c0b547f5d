"""The events child: every resource outcome becomes an `Event`, counted by an `Aggregator`
(partout.events.aggregator) into one `EventBatch` per period, handed to the outbox, which
spools it until JetStream acknowledges it on `partout.agent.<id>.events`.

The period ends on the shared pool's timer (`tell_later`), never on a sleeping thread;
the Aggregator decides when a batch is due (period with splay, alive message at least
once per alive period) and this actor only asks it at that time. The master's `Advice`
arrives on the control subject (Control "events", told by the bus child; its parameters
read by partout.events.notices) and applies at once; a malformed one is logged and ignored.

Counts are never dropped by a crash or a stop: what is pending goes out as one batch
from `on_stop`, before the outbox stops (the supervisor's STOP_ORDER). Nor by a kill -9:
each report's counts are told to the outbox (`PendingEvents`, under the id of the batch
that will carry them), which keeps them on disk until that batch is spooled; a starting
events child has the outbox spool whatever was left (`RecoverPending`).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pykka

from partout.actors.supervisor import PooledChild, Send, tell_later
from partout.agent.event_messages import EVENTS, EventsNotice, Outcomes, PendingEvents, RecoverPending, SpoolBatch
from partout.agent.messages import OUTBOX, AgentContext
from partout.events.aggregator import Aggregator
from partout.events.counts import Leaves, build_batch
from partout.events.notices import advice_in, rejection_in
from partout.events.wire import MAX_MESSAGE_CHARS, MAX_TITLE_CHARS, MODULE_PATTERN, Advice, Event, EventBatch, Level
from partout.report import ResourceResult
from partout.wire.fleet import RunReport

log = logging.getLogger(__name__)

_MODULE = re.compile(MODULE_PATTERN)
# the module of a result whose id names none (the wire needs a module token)
OTHER_MODULE = "other"
# the timer fires this much after a due time, so that the wall clock has surely reached it
TIMER_SLACK = 0.005
STOP_ASK_TIMEOUT = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def event_of(result: ResourceResult, *, agent_id: str, sequence: int, when: datetime) -> Event:
    """The event of one resource result (id `module:title`), its summary's first line as message."""
    module, _, title = result.id.partition(":")
    if not title or not _MODULE.match(module):
        module, title = OTHER_MODULE, result.id
    message = result.summary.split("\n", 1)[0]
    return Event(agent_id=agent_id, module=module, title=title[:MAX_TITLE_CHARS] or "-", status=result.status,
                 message=message[:MAX_MESSAGE_CHARS], agent_time=when, sequence=sequence)


def events_of(report: RunReport, now: datetime) -> list[Event]:
    started = report.report.started_at
    when = started if started.tzinfo is not None else now
    return [event_of(result, agent_id=report.agent_id, sequence=report.sequence, when=when)
            for result in report.report.results]


def batch_of(report: RunReport, now: datetime) -> EventBatch | None:
    """The events of one report in a batch of their own, covering the run (`partout agent
    --once`, which has no period to wait for); None when the report has no results."""
    started = report.report.started_at if report.report.started_at.tzinfo is not None else now
    aggregator = Aggregator(report.agent_id, now=min(started, now))
    for event in events_of(report, now):
        aggregator.add(event, now)
    return aggregator.flush(now)


def initial_advice(context: AgentContext) -> Advice:
    settings = context.config.events
    return Advice(period=settings.period, splay=settings.splay, level=Level.MESSAGE,
                  alive_period=settings.alive_period)


@dataclass(frozen=True)
class _Due:
    at: datetime


class EventsActor(PooledChild):
    name = EVENTS

    def __init__(self, parent: pykka.ActorRef[Any], context: AgentContext, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(parent)
        self._clock = clock
        self._aggregator = Aggregator(context.agent_id, now=clock(), advice=initial_advice(context))
        self._timers: set[datetime] = set()  # due times of the timers scheduled and not fired yet

    @property
    def aggregator(self) -> Aggregator:
        return self._aggregator

    def begin(self) -> None:
        self.parent.tell(Send(OUTBOX, RecoverPending()))
        self._schedule()

    def handle(self, message: object) -> object:
        match message:
            case Outcomes(report):
                now = self._clock()
                events = events_of(report, now)
                for event in events:
                    self._aggregator.add(event, now)
                if events:
                    self.parent.tell(Send(OUTBOX, PendingEvents(self._delta(events, report.sequence, now))))
                self._poll()
            case EventsNotice(parameters):
                self._on_notice(parameters)
            case _Due(at):
                self._timers.discard(at)
                self._poll()
            case _:
                return super().handle(message)
        return None

    def on_stop(self) -> None:
        batch = self._aggregator.flush(self._clock())
        if batch is None:
            return
        if self.failed:  # the outbox runs on: the counts go to it like any batch
            self.parent.tell(Send(OUTBOX, SpoolBatch(batch)))
            return
        try:  # asked, not told: the batch is in the outbox's inbox before the outbox is stopped
            self.parent.ask(Send(OUTBOX, SpoolBatch(batch)), timeout=STOP_ASK_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            log.error("event counts not handed to the outbox at stop", extra={"events": batch.count})

    # -- inside ------------------------------------------------------------------------

    def _delta(self, events: list[Event], sequence: int, now: datetime) -> EventBatch:
        """The counts of one report as a batch under the id of the batch collecting them."""
        leaves: Leaves = Counter((event.module, event.title, event.message, event.status) for event in events)
        aggregator = self._aggregator
        return build_batch(leaves, Level.MESSAGE, batch_id=aggregator.open_batch_id, agent_id=aggregator.agent_id,
                           period_start=aggregator.since, period_end=max(now, aggregator.since), sent_at=now,
                           sequence=sequence)

    def _poll(self) -> None:
        batch = self._aggregator.poll(self._clock())
        if batch is not None:
            self._send(batch)
        self._schedule()

    def _send(self, batch: EventBatch) -> None:
        self.parent.tell(Send(OUTBOX, SpoolBatch(batch)))

    def _schedule(self) -> None:
        """A timer at the next due time, unless one fires by then (it polls and schedules
        again): so at most a few timers wait, however many periods there are."""
        due = self._aggregator.next_due()
        if any(at <= due for at in self._timers):
            return
        self._timers.add(due)
        delay = max(0.0, (due - self._clock()).total_seconds()) + TIMER_SLACK
        tell_later(delay, self.actor_ref, _Due(due))

    def _on_notice(self, parameters: Mapping[str, Any]) -> None:
        advice, rejection = advice_in(dict(parameters)), rejection_in(dict(parameters))
        if advice is not None:
            log.info("event advice from the master",
                     extra={"period": advice.period, "level": int(advice.level), "alive_period": advice.alive_period})
            self._aggregator.advise(advice, self._clock())
            self._poll()
        elif rejection is not None:
            log.warning("the master rejected an event batch",
                        extra={"batch_id": rejection.batch_id, "reason": rejection.reason})
        else:  # only the master may publish here: a bug of its own, or of another version
            log.warning("malformed 'events' control from the master ignored",
                        extra={"keys": sorted(str(key)[:40] for key in parameters)[:8]})


__all__ = ["EventsActor", "batch_of", "event_of", "events_of", "initial_advice"]
