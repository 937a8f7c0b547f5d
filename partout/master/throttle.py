"""`ThrottleActor`: the master's side of statistical backoff. It owns a
partout.events.backoff.Throttle, hears of every newly stored batch (BatchStored, from the
event ingest), and tells each agent whose advice changed the new `Advice` on its control
subject (Control "events", partout.events.notices).

Advice is looked at when a batch arrives (a storm is answered at once) and every
`advice_interval` seconds (calm, or an agent at level 0 that sends nothing for a day, is
noticed without a batch). It is rate-limited: one agent hears at most once per
`advice_min_gap` (the newest advice goes when the gap is over), and at most
`advice_per_look` messages go out per look, so a fleet-wide change trickles out instead of
flooding the bus. Rates live in this master's memory: after a restart they are measured
anew from the next batches (agents keep their last advice meanwhile).

With several masters, each stores the batches its queue group hands it, and tells the others
of each one on `partout.master.counted` (BatchCounted): every throttle then counts every
batch, so the rates are the fleet's. The advice to an agent comes from one master only, the
one that stored its latest batch: the latest by the batch's end (the agent's clock), then by
master id, so that every master comes to the same answer whatever order it heard them in
(by arrival, two masters that each stored one of two close batches would each defer to the
other, and nobody would advise the agent). Each advice sent is told to the other masters on
`partout.master.advised` (AdviceSent), so the one advising next compares its advice with
what the agent really holds, and sends it again if a master that had not heard of the later
batch yet told the agent something else meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from partout import subjects
from partout.bus.messages import BusMessage
from partout.events.backoff import Throttle
from partout.events.notices import EVENTS_COMMAND, advice_parameters
from partout.events.wire import Advice, AdviceSent, BatchCounted, EventBatch
from partout.master.events_config import EventsConfig
from partout.master.events_ingest import BatchStored
from partout.master.supervisor import Child, SupervisedActor, tell_later
from partout.wire import decode, encode
from partout.wire.fleet import Control

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Look:
    """Time to look for agents whose advice changed (told to itself every advice_interval;
    a restarted throttle ignores the looks its previous incarnation scheduled)."""

    incarnation: int = 0


class ThrottleActor(SupervisedActor):
    def __init__(self, bus: Bus | None, settings: EventsConfig, *, clock: Callable[[], float] | None = None,
                 instance: str = "master", child: Child | None = None) -> None:
        super().__init__(child=child)
        self._bus = bus
        self._settings = settings
        self._clock = clock or time.time
        self._instance = instance  # this master's id among the masters (random per start)
        # agent id -> (end, master) of its latest batch: that master advises it
        self._latest: dict[str, tuple[datetime, str]] = {}
        self.counted_elsewhere = 0  # batches other masters stored, counted here
        self.throttle = Throttle(settings.throttle)
        self._pending: dict[str, Advice] = {}  # changed advice not sent yet (gap, budget)
        # agent id -> when it was last told anything, by us or another master (monotonic);
        # what it was told is the throttle's `told`
        self._told_at: dict[str, float] = {}
        self.advice_sent = 0

    def start_up(self) -> None:
        self._schedule()

    def handle(self, message: object) -> None:
        match message:
            case BatchStored(batch, received_at):
                self.throttle.record(batch, received_at)
                self._claim(batch.agent_id, batch.period_end, self._instance)
                # the others hear of the batch before any advice it brings: one that stored an
                # earlier batch then knows it no longer advises this agent
                self._tell_other_masters(batch, received_at)
                self._want(batch.agent_id, self.throttle.current(batch.agent_id, self._clock()))
                self._send()
            case BusMessage(subject=subjects.ADVICE_SENT, data=data):
                self._advised_elsewhere(data)
            case BusMessage(data=data):
                self._counted_elsewhere(data)
            case Look(incarnation) if incarnation == self._child.incarnation:
                now = self._clock()
                # against what each agent holds (told by us or another master): an agent this
                # master starts advising may hold what another told it
                for agent_id, advice in self.throttle.changed(now, among=self.advises).items():
                    self._want(agent_id, advice)
                for agent_id in self.throttle.forget_idle(now):
                    self._told_at.pop(agent_id, None)
                    self._pending.pop(agent_id, None)
                    self._latest.pop(agent_id, None)
                self._send()
                self._schedule()
            case Look():
                pass
            case _:
                super().handle(message)

    @property
    def waiting(self) -> int:
        """Agents whose changed advice waits for their gap or the next look's budget."""
        return len(self._pending)

    def _schedule(self) -> None:
        target = self._child.address if self._child.address is not None else self.actor_ref
        tell_later(self._settings.advice_interval, target, Look(self._child.incarnation))

    def _tell_other_masters(self, batch: EventBatch, received_at: float) -> None:
        if self._bus is None:
            return
        counted = BatchCounted(master=self._instance, agent_id=batch.agent_id, period_start=batch.period_start,
                               period_end=batch.period_end, count=batch.count, received_at=received_at)
        self._bus.publish(subjects.EVENTS_COUNTED, encode(counted))

    def _counted_elsewhere(self, data: bytes) -> None:
        counted = decode(BatchCounted, data)
        if counted is None or counted.master == self._instance:
            return  # malformed (counted by decode), or our own
        self.throttle.record_count(counted.agent_id, counted.period_start.timestamp(), counted.period_end.timestamp(),
                                   counted.count, counted.received_at)
        if self._claim(counted.agent_id, counted.period_end, counted.master):
            self._pending.pop(counted.agent_id, None)  # the other master advises it now
        self.counted_elsewhere += 1

    def _advised_elsewhere(self, data: bytes) -> None:
        sent = decode(AdviceSent, data)
        if sent is None or sent.master == self._instance:
            return
        # what the agent holds now, as far as we know; if we advise it, ours goes again when it differs
        self._told_at[sent.agent_id] = time.monotonic()
        self.throttle.note_told(sent.agent_id, sent.advice)
        if self.advises(sent.agent_id):
            self._want(sent.agent_id, self.throttle.current(sent.agent_id, self._clock()))
            self._send()

    def _claim(self, agent_id: str, period_end: datetime, master: str) -> bool:
        """Note a batch of `agent_id` stored by `master`; True if it is the agent's latest."""
        latest = self._latest.get(agent_id)
        if latest is not None and latest >= (period_end, master):
            return False
        self._latest[agent_id] = (period_end, master)
        return True

    def advises(self, agent_id: str) -> bool:
        """Whether this master advises the agent: it stored the latest batch it knows of."""
        latest = self._latest.get(agent_id)
        return latest is not None and latest[1] == self._instance

    def _want(self, agent_id: str, advice: Advice) -> None:
        if not self.advises(agent_id):
            return  # another master stored its latest batch: that one advises it
        if self.throttle.told(agent_id) == advice:
            self._pending.pop(agent_id, None)  # back to what it has: nothing to say
        else:
            self._pending[agent_id] = advice

    def _send(self) -> None:
        if self._bus is None or not self._pending:
            return
        now = time.monotonic()
        budget = self._settings.advice_per_look
        for agent_id, advice in list(self._pending.items()):
            if budget == 0:
                break
            told_at = self._told_at.get(agent_id)
            if told_at is not None and now - told_at < self._settings.advice_min_gap:
                continue
            del self._pending[agent_id]
            self._told_at[agent_id] = now
            self.throttle.note_told(agent_id, advice)
            control = Control(command=EVENTS_COMMAND, parameters=advice_parameters(advice), sent_at=datetime.now(UTC))
            self._bus.publish(subjects.agent_control(agent_id), encode(control))
            self._bus.publish(subjects.ADVICE_SENT, encode(AdviceSent(master=self._instance, agent_id=agent_id,
                                                                      advice=advice)))
            self.advice_sent += 1
            budget -= 1
            log.debug("advice sent", extra={"agent_id": agent_id, "period": advice.period, "level": int(advice.level)})


__all__ = ["Look", "ThrottleActor"]
