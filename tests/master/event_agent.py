"""A simulated agent for the event tests: a real approved identity (its own nkey, the
permissions the master's callout grants it) publishing real EventBatch JSON on its events
subject through JetStream, and collecting what the master tells it on its control subject.

    agent = SimulatedAgent(urls, key, agent_id).start()
    agent.send(agent.batch(count=5))
    assert eventually(lambda: agent.advice())
    agent.stop()

The connection runs on its own asyncio loop thread, so tests stay synchronous."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from partout import subjects
from partout.bus.connection import round_trip
from partout.events.counts import Leaves, build_batch
from partout.events.notices import EVENTS_COMMAND, Rejection, advice_in, rejection_in
from partout.events.wire import Advice, EventBatch, Level
from partout.report import Status
from partout.wire import decode, encode
from partout.wire.fleet import Control

T = TypeVar("T")


def repairs(count: int, module: str = "file", title: str = "/etc/motd", message: str = "content repaired",
            status: Status = Status.CHANGED) -> Leaves:
    leaves: Leaves = Counter()
    if count:
        leaves[(module, title, message, status)] = count
    return leaves


class SimulatedAgent:
    def __init__(self, urls: list[str], seed: str, agent_id: str) -> None:
        self.urls = urls
        self.seed = seed
        self.agent_id = agent_id
        self.controls: list[Control] = []
        self.published = 0  # events in the batches the stream acknowledged
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=f"sim-{agent_id[:8]}")
        self._connection: Any = None
        self._last_end = datetime.now(UTC)

    def start(self) -> SimulatedAgent:
        self._thread.start()
        self._run(self._connect())
        return self

    def stop(self) -> None:
        if self._connection is not None:
            self._run(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)

    async def _connect(self) -> None:
        import nats

        self._connection = await nats.connect(self.urls, nkeys_seed_str=self.seed,
                                              inbox_prefix=subjects.inbox_prefix(self.agent_id), connect_timeout=5,
                                              max_reconnect_attempts=-1, reconnect_time_wait=0.1)

        async def heard(message: Any) -> None:
            control = decode(Control, message.data)
            if control is not None:
                with self._lock:
                    self.controls.append(control)

        await self._connection.subscribe(subjects.agent_control(self.agent_id), cb=heard)
        await round_trip(self._connection)

    def batch(self, count: int = 1, *, leaves: Leaves | None = None, level: Level = Level.MESSAGE,
              seconds: float | None = None, agent_id: str | None = None) -> EventBatch:
        """The next batch: it covers the time since the previous one (or `seconds` before now)."""
        now = datetime.now(UTC)
        start = now - timedelta(seconds=seconds) if seconds is not None else min(self._last_end, now)
        self._last_end = now
        return build_batch(leaves if leaves is not None else repairs(count), level,
                           batch_id=uuid.uuid4().hex, agent_id=agent_id or self.agent_id, period_start=start,
                           period_end=now, sent_at=now)

    def send(self, batch: EventBatch | bytes, message_id: str | None = None) -> None:
        """Publish through JetStream and wait for the stream's ack (message id = batch id)."""
        data = encode(batch) if isinstance(batch, EventBatch) else batch
        if message_id is None and isinstance(batch, EventBatch):
            message_id = batch.batch_id

        async def publish() -> None:
            stream = self._connection.jetstream()
            headers = {"Nats-Msg-Id": message_id} if message_id else None
            await stream.publish(subjects.agent_events(self.agent_id), data, headers=headers, timeout=10)

        self._run(publish())
        if isinstance(batch, EventBatch):
            with self._lock:
                self.published += batch.count

    def advice(self) -> list[Advice]:
        with self._lock:
            return [advice for control in self.controls
                    if control.command == EVENTS_COMMAND and (advice := advice_in(control.parameters)) is not None]

    def rejections(self) -> list[Rejection]:
        with self._lock:
            return [found for control in self.controls
                    if control.command == EVENTS_COMMAND and (found := rejection_in(control.parameters)) is not None]


def enrolled_agent(urls: list[str], directory: Path, hostname: str, timeout: float = 60.0) -> SimulatedAgent:
    """A new identity enrolled under `hostname` (which a master's rule auto-approves), started."""
    from helpers import eventually
    from test_master_support import enrol, new_agent_key

    key = new_agent_key(directory, hostname)
    replies: list[Any] = []

    def approved() -> bool:
        try:
            reply = enrol(urls, key, hostname=hostname)
        except Exception:  # a master still starting: nobody answers the callout yet
            return False
        replies.append(reply)
        return reply is not None and reply.status == "approved"

    assert eventually(approved, timeout=timeout, interval=0.5), replies
    return SimulatedAgent(urls, key.seed, replies[-1].agent_id).start()


__all__ = ["SimulatedAgent", "enrolled_agent", "repairs"]
