"""`Bus`: a typed facade over the BusActor for non-actor code (agent, master, CLI, tests).

    bus = Bus.start(BusOptions(servers=("nats://127.0.0.1:4222",), seed_file=seed))
    bus.publish(subjects.agent_facts("web1"), data)
    ack = bus.jetstream_publish(subjects.agent_events("web1"), data).get(timeout=30)
    bus.stop()

Every method returns at once; results come as pykka futures (`.get(timeout)`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pykka

from partout.bus.actor import BusActor
from partout.bus.messages import (
    BusMessage, BusOptions, BusStats, EnsureStreams, Flush, GetStats, JetStreamPublish, KeyValueChange,
    KeyValueGet, KeyValuePut, KeyValueWatch, Publish, PublishAck, Request, Subscribe, Target, Unsubscribe,
    WatchConnection,
)
from partout.bus.pubsub import Outbox


class Bus:
    """Wraps a BusActor ref. Its calls skip the actor's mailbox: they schedule the work on the
    bus loop from the caller's thread (what on_receive would do), saving a thread hop."""

    def __init__(self, ref: pykka.ActorRef[BusActor], outbox: Outbox) -> None:
        self.ref = ref
        self._outbox = outbox

    @classmethod
    def start(cls, options: BusOptions) -> Bus:
        outbox = Outbox(options.max_queued)
        return cls(BusActor.start(options, outbox), outbox)

    def stop(self, timeout: float = 15.0) -> None:
        """Flush what is queued (while connected), close the connection, stop the actor."""
        if self.ref.is_alive():
            self.ref.stop(timeout=timeout)

    def _ask(self, message_type: Any, **fields: Any) -> pykka.Future[Any]:
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        self._outbox.dispatch(message_type(future=future, **fields))
        return future

    def publish(self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None,
                reply: str = "") -> None:
        """Fire and forget; refused publishes are counted in `stats().refused`."""
        self._outbox.put(Publish(subject, data, headers, reply))

    def request(self, subject: str, data: bytes, *, timeout: float = 2.0,
                headers: Mapping[str, str] | None = None) -> pykka.Future[BusMessage]:
        return self._ask(Request, subject=subject, data=data, timeout=timeout, headers=headers)

    def subscribe(self, subject: str, target: Target, *, queue: str = "") -> pykka.Future[str]:
        """Deliver every message on `subject` to `target` as a BusMessage; the future gets the
        subscription id once the server has it."""
        return self._ask(Subscribe, subject=subject, target=target, queue=queue)

    def unsubscribe(self, subscription: str) -> pykka.Future[None]:
        """Stop a subscription or a KV watch by its id."""
        return self._ask(Unsubscribe, subscription=subscription)

    def jetstream_publish(self, subject: str, data: bytes, *, message_id: str | None = None,
                          timeout: float = 30.0, headers: Mapping[str, str] | None = None) -> pykka.Future[PublishAck]:
        """Publish to a stream and wait for its ack, retrying until `timeout`; a message id
        (random when not given) makes a retry land once."""
        return self._ask(JetStreamPublish, subject=subject, data=data, message_id=message_id or uuid.uuid4().hex,
                         timeout=timeout, headers=headers)

    def kv_put(self, bucket: str, key: str, value: bytes, *,
               last_revision: int | None = None) -> pykka.Future[int]:
        """The new revision. With `last_revision` a compare-and-set: it lands only if the key
        is still at that revision (0: has no value yet), else the future raises KeyValueConflict."""
        return self._ask(KeyValuePut, bucket=bucket, key=key, value=value, last_revision=last_revision)

    def kv_get(self, bucket: str, key: str) -> pykka.Future[KeyValueChange | None]:
        return self._ask(KeyValueGet, bucket=bucket, key=key)

    def kv_watch(self, bucket: str, key: str, target: Target, *, updates: str | None = None) -> pykka.Future[str]:
        """Deliver the key's current value and every change to `target` as KeyValueChange.

        Agents pass `updates=subjects.policy_updates(environment)`: their permissions allow
        that subscription and a direct get of their key, not a JetStream consumer."""
        return self._ask(KeyValueWatch, bucket=bucket, key=key, target=target, updates=updates)

    def watch_connection(self, target: Target) -> None:
        """Tell `target` the current ConnectionState and every change."""
        self.ref.tell(WatchConnection(target))

    def flush(self, timeout: float = 5.0) -> pykka.Future[None]:
        """Resolves once everything published so far has reached the server."""
        return self._ask(Flush, timeout=timeout)

    def ensure_streams(self, replicas: int = 1, *, keep_higher: bool = False) -> pykka.Future[None]:
        """Create or update Partout's streams and policy bucket with `replicas` (raised or
        lowered in place; never lowered with `keep_higher`)."""
        return self._ask(EnsureStreams, replicas=replicas, keep_higher=keep_higher)

    def stats(self) -> pykka.Future[BusStats]:
        return self._ask(GetStats)
