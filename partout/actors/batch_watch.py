"""`BatchWatchActor`: real-time repair of resources that share one database and are
applied in batches (the packages of one dpkg root, of one virtualenv).

A package manager writes its database several times per transaction, and one
transaction may remove several managed packages. So the watcher's events on the
database are folded until it has been quiet for `settle` seconds (at most
`MAX_SETTLE_FACTOR` times that while it keeps being written), and then the whole group
is re-checked as one small run: one check per resource, one `apply_batch` call for
those that drifted. Flap control applies to the group as a whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pykka import ActorDeadError

from partout.actors.flap import RepairGate, RepairLimit
from partout.actors.messages import DebounceElapsed, PathChanged, PollDue, StopWatching
from partout.actors.pool import PooledActor, WorkerPool
from partout.report import Report, ResourceResult, Status

MAX_SETTLE_FACTOR = 20

StartBatch = Callable[[Callable[[Report], None]], None]


@dataclass(frozen=True)
class BatchDone:
    """The group's run finished (sent by the run's callback)."""

    report: Report


class BatchWatchActor(PooledActor):
    def __init__(self, start_batch: StartBatch, deliver: Callable[[ResourceResult], None], *,
                 settle: float, interval: float | None, limit: RepairLimit | None,
                 pool: WorkerPool | None = None) -> None:
        super().__init__(pool=pool)
        self._start_batch = start_batch
        self._deliver = deliver
        self._settle = settle
        self._interval = interval
        self._gate = RepairGate(limit)
        self._stopped = False
        self._running = False
        self._dirty = False
        self._first_heard: float | None = None
        self._generation = 0
        self._failures: dict[str, str] = {}

    def on_start(self) -> None:
        self._schedule_poll()

    def on_receive(self, message: Any) -> Any:
        match message:
            case PathChanged() | PollDue():
                if isinstance(message, PollDue):
                    self._schedule_poll()
                self._heard()
            case DebounceElapsed(generation=generation):
                if generation == self._generation:
                    self._settled()
            case BatchDone(report=report):
                self._done(report)
            case StopWatching():
                self._stopped = True
                self._generation += 1
            case _:
                return super().on_receive(message)
        return None

    def _heard(self) -> None:
        if self._stopped:
            return
        self._gate.heard()
        self._dirty = True
        if self._running:
            return  # looked at again once the run ends
        now = time.monotonic()
        if self._first_heard is None:
            self._first_heard = now
        latest = self._first_heard + self._settle * MAX_SETTLE_FACTOR
        self._wait(max(0.0, min(self._settle, latest - now)))

    def _settled(self) -> None:
        if self._stopped or self._running or not self._dirty:
            return
        delay = self._gate.wait()
        if delay > 0:
            self._wait(delay)
            return
        self._running, self._dirty, self._first_heard = True, False, None
        ref = self.actor_ref
        self._start_batch(lambda report: _tell(ref, BatchDone(report)))

    def _done(self, report: Report) -> None:
        self._running = False
        if self._stopped:
            return
        drifted = [result for result in report.results if result.status in (Status.CHANGED, Status.FAILED)]
        notice = self._gate.repaired(bool(drifted))
        for index, result in enumerate(drifted):
            if index == 0 and notice is not None:
                result = result.model_copy(update={"summary": f"{result.summary}; {notice}"})
            elif result.status is Status.FAILED and self._failures.get(result.id) == result.summary:
                continue  # the same failure again: said once is enough
            self._deliver(result)
        self._failures = {result.id: result.summary for result in report.results if result.status is Status.FAILED}
        if self._dirty:
            self._wait(max(self._settle, self._gate.wait()))

    def _wait(self, delay: float) -> None:
        self._generation += 1
        generation, ref = self._generation, self.actor_ref
        self.actor_pool.call_later(delay, lambda: _tell(ref, DebounceElapsed(generation)))

    def _schedule_poll(self) -> None:
        if self._interval is None or self._stopped:
            return
        ref = self.actor_ref
        self.actor_pool.call_later(self._interval, lambda: _tell(ref, PollDue()))


def _tell(ref: Any, message: object) -> None:
    try:
        ref.tell(message)
    except ActorDeadError:
        pass
