"""Core NATS on the bus: publish through the `Outbox`, request/reply, subscribe, flush.

Publishes take a fast path: they are appended to the `Outbox` (a deque) from any thread,
and one drain task on the loop sends everything queued, so a burst costs one loop wake-up,
not one per message. While disconnected, nats-py buffers up to `max_buffer_bytes`; beyond
that a publish is REFUSED and counted: the newest message is lost, never a silent rewrite
of what is already queued. A flush waits for the drain (a future it resolves, no polling),
then for the server's PONG.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from partout.bus.connection import Connection, deliver, round_trip
from partout.bus.messages import BusMessage, Flush, Publish, Request, RequestReply, Subscribe
from partout.bus.subscriptions import Subscriptions
from partout.errors import BusError

if TYPE_CHECKING:
    from nats.aio.msg import Msg

MAX_QUEUED_BEFORE_CONNECT = 100_000


def _not_started(*_: object) -> bool:
    raise BusError("the bus has not started")


class Outbox:
    """Publishes waiting for the loop; appended to from any thread."""

    def __init__(self, limit: int = MAX_QUEUED_BEFORE_CONNECT) -> None:
        self.limit = limit
        self.queue: collections.deque[Publish] = collections.deque()
        self.lock = threading.Lock()
        self.scheduled = False
        self.refused = 0
        # set by the actor: schedules one drain on its loop
        self.wake: Callable[[], object] = _not_started
        # set by the actor: hands any message to its loop from the caller's thread (what
        # on_receive does, minus the mailbox hop); the Bus facade's fast path
        self.dispatch: Callable[[object], bool] = _not_started

    def put(self, publish: Publish) -> None:
        # bounded: before the first connection (or if the loop falls behind) the queue must
        # not grow without limit; the newest publish is refused and counted
        if len(self.queue) >= self.limit:
            self.refused += 1
            return
        self.queue.append(publish)
        with self.lock:
            if self.scheduled:
                return
            self.scheduled = True
        self.wake()

    @property
    def pending(self) -> bool:
        """Something queued, or a drain on its way."""
        return self.scheduled or bool(self.queue)


class PubSub:
    """Sends the outbox, answers requests and subscriptions; loop-thread only."""

    def __init__(self, connection: Connection, outbox: Outbox, subscriptions: Subscriptions) -> None:
        self._connection = connection
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._drained: list[asyncio.Future[None]] = []
        self.published = self.refused = self.delivered = 0
        self.errors: collections.Counter[str] = collections.Counter()

    def start_drain(self) -> None:
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            await self._send_queued()
        finally:
            # a drain that ends (empty queue, or cancelled at close) releases every flush
            waiting, self._drained = self._drained, []
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def _send_queued(self) -> None:
        queue, outbox = self._outbox.queue, self._outbox
        client = await self._connection.client()
        while True:
            try:
                message = queue.popleft()
            except IndexError:
                with outbox.lock:
                    if not queue:
                        outbox.scheduled = False
                        return
                continue
            try:
                await client.publish(message.subject, message.data, reply=message.reply,
                                     headers=dict(message.headers) if message.headers else None)
                self.published += 1
            except Exception as error:  # buffer full, closed, oversized, bad subject: this one is lost
                self.refused += 1
                self.errors[type(error).__name__] += 1

    async def drained(self) -> None:
        """Returns once every publish queued before the call has been handed to nats-py."""
        if not self._outbox.pending:
            return
        future = asyncio.get_running_loop().create_future()
        self._drained.append(future)
        await future

    async def flush(self, message: Flush) -> None:
        await self._connection.client()
        try:
            await asyncio.wait_for(self.drained(), timeout=message.timeout)
        except asyncio.TimeoutError as error:
            raise BusError(f"flush failed: publishes still queued after {message.timeout:g} s") from error
        await self._connection.flush(message.timeout)

    async def request(self, message: Request) -> BusMessage:
        try:
            client = await self._connection.client()
            reply = await client.request(message.subject, message.data, timeout=message.timeout,
                                         headers=dict(message.headers) if message.headers else None)
        except Exception as error:
            failure = BusError(f"request to {message.subject} failed: {type(error).__name__} {error}".strip())
            if message.reply_to is not None:
                message.reply_to.tell(RequestReply(message.subject, None, str(failure)))
            raise failure from error
        result = BusMessage(reply.subject, reply.data, reply.reply, reply.headers)
        if message.reply_to is not None:
            message.reply_to.tell(RequestReply(message.subject, result))
        return result

    async def subscribe(self, message: Subscribe) -> str:
        identifier = self._subscriptions.reserve("sub")
        target = message.target

        async def on_message(received: Msg) -> None:
            self.delivered += 1
            deliver(target, BusMessage(received.subject, received.data, received.reply, received.headers,
                                       identifier))

        try:
            client = await self._connection.client()
            self._subscriptions.keep(identifier, await client.subscribe(
                message.subject, queue=message.queue, cb=on_message, pending_msgs_limit=1_000_000))
            await round_trip(client)  # live once this returns (a caller may now have it published to)
        except Exception as error:
            raise BusError(f"cannot subscribe to {message.subject}: {error}") from error
        return identifier


__all__ = ["Outbox", "PubSub"]
