"""The agent's side of statistical backoff: events in, one batch per period out.

    aggregator = Aggregator("web1", now=started)
    aggregator.add(event, now)                    # every resource outcome and repair
    batch = aggregator.poll(now)                  # at aggregator.next_due(): a batch or None
    aggregator.advise(advice, now)                # the master's answer to the last batch

A period opens with the first event after a batch and closes P seconds later, P varied by
the splay so that a fleet started together does not send together (the original's
timer); the alive period is varied too, or such a fleet would send its daily alive
messages in the same second for ever. A batch covers everything since the previous one,
quiet time included, so the master reads true rates from count / period. At level 0
events are only counted and go out with the alive message; whatever the level, a batch
(an alive one, with a count of 0, when nothing happened) goes out at least once per alive
period.

Plain object, no thread and no clock: the owning actor calls it with the time.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from partout.events.counts import LeafKey, Leaves, build_batch, coarsen, coarsen_key
from partout.events.wire import Advice, Event, EventBatch, Level

# Distinct (module, title, message, status) keys kept in memory before the detail being
# collected is coarsened: a storm of distinct messages costs detail, never memory or counts.
MAX_PENDING_KEYS = 20_000


def new_batch_id() -> str:
    return uuid.uuid4().hex


class Aggregator:
    def __init__(self, agent_id: str, *, now: datetime, advice: Advice | None = None,
                 uniform: Callable[[], float] = random.random, new_id: Callable[[], str] = new_batch_id,
                 max_pending_keys: int = MAX_PENDING_KEYS) -> None:
        self.agent_id = agent_id
        self._advice = advice or Advice()
        self._uniform = uniform
        self._new_id = new_id
        self._max_keys = max_pending_keys
        self._since = now
        self._leaves: Leaves = Counter()
        self._detail = Level.MESSAGE
        self._first_event: datetime | None = None
        self._deadline: datetime | None = None
        self._open_id: str | None = None  # the id of the batch being collected, once asked for
        self._alive_due = now + self._jittered(self._advice.alive_period)
        self._sequence = 0
        self._sent = 0

    @property
    def advice(self) -> Advice:
        return self._advice

    @property
    def pending(self) -> int:
        """Events counted and not yet in a batch."""
        return sum(self._leaves.values())

    @property
    def since(self) -> datetime:
        """Where the batch being collected starts (the end of the previous one)."""
        return self._since

    @property
    def open_batch_id(self) -> str:
        """The id the batch being collected will go out under (drawn when first asked):
        counts kept on disk before it is sent are kept under it (partout.events.pending)."""
        if self._open_id is None:
            self._open_id = self._new_id()
        return self._open_id

    @property
    def sent(self) -> int:
        """Events put into batches so far."""
        return self._sent

    def add(self, event: Event, now: datetime) -> None:
        if event.agent_id != self.agent_id:
            raise ValueError(f"event of agent {event.agent_id!r} given to the aggregator of {self.agent_id!r}")
        key: LeafKey = (event.module, event.title, event.message, event.status)
        self._leaves[coarsen_key(key, self._detail)] += 1
        self._sequence = max(self._sequence, event.sequence)
        if len(self._leaves) > self._max_keys:
            self._coarsen_pending()
        if self._first_event is None:
            self._first_event = now
            self._deadline = now + self._jittered_period()

    def next_due(self) -> datetime:
        """When `poll` next has something to send (the owner's timer)."""
        if self._deadline is not None and self._advice.level > Level.ALIVE:
            return min(self._deadline, self._alive_due)
        return self._alive_due

    def poll(self, now: datetime) -> EventBatch | None:
        """The batch due at `now`, or None."""
        if self._deadline is not None and self._advice.level > Level.ALIVE and now >= self._deadline:
            return self._emit(now, self._advice.level)
        if now >= self._alive_due:
            level = self._advice.level if self._leaves else Level.ALIVE
            return self._emit(now, level)
        return None

    def flush(self, now: datetime) -> EventBatch | None:
        """Every pending count in a batch now (the agent is stopping), or None when none."""
        return self._emit(now, self._advice.level) if self._leaves else None

    def advise(self, advice: Advice, now: datetime) -> None:
        """Use the master's settings from now on: an open period is re-timed to the new P
        from its first event (it may be due at once); detail is cut when the batch is made."""
        self._advice = advice
        if self._first_event is not None:
            self._deadline = self._first_event + self._jittered_period()
        last_batch = self._since
        self._alive_due = last_batch + self._jittered(advice.alive_period)

    def _jittered_period(self) -> timedelta:
        return self._jittered(self._advice.period)

    def _jittered(self, seconds: float) -> timedelta:
        """`seconds` varied by the splay: within +-splay/2 of it."""
        spread = self._advice.splay * (self._uniform() - 0.5)
        return timedelta(seconds=seconds * (1.0 + spread))

    def _coarsen_pending(self) -> None:
        while len(self._leaves) > self._max_keys and self._detail > Level.AGENT:
            self._detail = Level(self._detail - 1)
            self._leaves = coarsen(self._leaves, self._detail)

    def _emit(self, now: datetime, level: Level) -> EventBatch:
        batch_id = self._open_id if self._open_id is not None and self._leaves else self._new_id()
        batch = build_batch(self._leaves, Level(min(level, self._detail)), batch_id=batch_id,
                            agent_id=self.agent_id, period_start=self._since, period_end=max(now, self._since),
                            sent_at=now, sequence=self._sequence)
        self._sent += batch.count
        self._since = max(now, self._since)
        self._leaves = Counter()
        self._detail = Level.MESSAGE
        self._first_event = None
        self._deadline = None
        self._open_id = None
        self._alive_due = self._since + self._jittered(self._advice.alive_period)
        return batch


__all__ = ["MAX_PENDING_KEYS", "Aggregator", "new_batch_id"]
