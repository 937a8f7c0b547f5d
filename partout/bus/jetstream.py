"""JetStream on the bus: publish and wait for the stream's ack, consume through a durable
pull consumer, create Partout's streams. Retries follow the shared `Backoff`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import pykka

from partout.bus.connection import Connection, deliver
from partout.bus.messages import EnsureStreams, JetStreamConsume, JetStreamDelivery, JetStreamPublish, PublishAck, Target
from partout.bus.subscriptions import Subscriptions
from partout.errors import BusError
from partout.retry import Backoff, retry_until

if TYPE_CHECKING:
    from nats.js.api import PubAck

# one attempt's ack wait: at most this, and never past the caller's deadline
ATTEMPT_TIMEOUT = 2.0


def publish_retry() -> Backoff:
    """Waiting for an ack: 0.05 s, 0.1 s ... at most 0.5 s between attempts."""
    return Backoff(first=0.05, limit=0.5)


def pull_retry() -> Backoff:
    """A failing pull (disconnected, consumer deleted): 0.25 s doubling up to 2 s."""
    return Backoff(first=0.25, limit=2.0)


class JetStream:
    """Publishes with acks, pull consumers, streams; loop-thread only."""

    def __init__(self, connection: Connection, subscriptions: Subscriptions, max_inflight: int) -> None:
        self._connection = connection
        self._subscriptions = subscriptions
        # Python >= 3.10: binds to the loop on first use
        self._inflight = asyncio.Semaphore(max_inflight)
        self._publish_retry = publish_retry()
        self.retries = self.delivered = 0
        self.errors: collections.Counter[str] = collections.Counter()

    async def publish(self, message: JetStreamPublish) -> PublishAck:
        """The stream's ack; a BusError once `message.timeout` has passed (told to `reply_to` too)."""
        from nats.errors import NoRespondersError

        headers = dict(message.headers or {})
        if message.message_id is not None:
            headers["Nats-Msg-Id"] = message.message_id
        deadline = time.monotonic() + message.timeout
        jetstream = await self._connection.jetstream()

        async def attempt() -> PubAck:
            timeout = max(0.1, min(ATTEMPT_TIMEOUT, deadline - time.monotonic()))
            return await jetstream.publish(message.subject, message.data, headers=headers or None, timeout=timeout)

        def retryable(error: Exception) -> bool:
            # timeouts, no responders, leader elections, reconnects; but without a message id
            # a timed-out publish may have been stored: no retry
            return message.message_id is not None or isinstance(error, NoRespondersError)

        def count(error: Exception, delay: float) -> None:
            self.retries += 1

        async with self._inflight:
            try:
                ack = await retry_until(attempt, backoff=self._publish_retry, deadline=deadline,
                                        retryable=retryable, on_retry=count)
                result = PublishAck(message.subject, message.message_id, ack.stream, ack.seq, bool(ack.duplicate))
            except Exception as error:
                result = PublishAck(message.subject, message.message_id, error=f"{type(error).__name__}: {error}")
        if message.reply_to is not None:
            try:
                message.reply_to.tell(result)
            except pykka.ActorDeadError:
                pass  # it stopped meanwhile (an agent stopping with a publish in flight)
        if result.error:
            raise BusError(f"JetStream publish to {message.subject} failed: {result.error}")
        return result

    async def consume(self, message: JetStreamConsume) -> str:
        """Start pulling; the consume id (for Unsubscribe) once the consumer exists."""
        from nats.js import api

        try:
            jetstream = await self._connection.jetstream()
            config = api.ConsumerConfig(
                durable_name=message.durable, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=message.ack_wait,
                max_ack_pending=message.max_ack_pending, deliver_policy=api.DeliverPolicy.ALL,
            )
            subscription = await jetstream.pull_subscribe(
                message.subject, durable=message.durable, stream=message.stream, config=config)
        except Exception as error:
            raise BusError(f"cannot consume {message.stream}/{message.durable}: "
                           f"{type(error).__name__} {error}") from error
        task = asyncio.get_running_loop().create_task(self._pull(subscription, message.batch, message.target))
        return self._subscriptions.add("consume", task)

    async def _pull(self, subscription: Any, batch: int, target: Target) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        loop = asyncio.get_running_loop()
        failures = pull_retry()

        def later(coroutine_function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
            # acks come from other threads; the message's methods must run on this loop
            def on_loop() -> None:
                loop.create_task(coroutine_function())

            def from_any_thread() -> None:
                loop.call_soon_threadsafe(on_loop)

            return from_any_thread

        try:
            while not self._connection.closing:
                try:
                    received = await subscription.fetch(batch, timeout=1.0)
                except (NatsTimeout, asyncio.TimeoutError):
                    failures.reset()
                    continue
                except Exception as error:  # disconnected, consumer deleted: retry shortly
                    self.errors[type(error).__name__] += 1
                    await asyncio.sleep(failures.next())
                    continue
                failures.reset()
                for item in received:
                    self.delivered += 1
                    delivered = item.metadata.num_delivered if item.metadata else 1
                    sequence = item.metadata.sequence.stream if item.metadata else 0
                    deliver(target, JetStreamDelivery(item.subject, item.data, item.headers, delivered,
                                                      later(item.ack), later(item.nak), sequence))
        finally:
            if not self._connection.closing:  # closing: the connection goes, and the loop stops right after
                try:
                    await subscription.unsubscribe()
                except Exception:
                    pass

    async def ensure_streams(self, message: EnsureStreams) -> None:
        from partout.nats.streams import ensure_streams

        try:
            await ensure_streams(await self._connection.jetstream(), replicas=message.replicas,
                                 keep_higher=message.keep_higher)
        except BusError:
            raise
        except Exception as error:
            raise BusError(str(error)) from error


__all__ = ["JetStream"]
