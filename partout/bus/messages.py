"""Messages to and from the BusActor (frozen dataclasses), and its connection options.

Results go either to a pykka Future (`future=`, what the `Bus` facade uses) or, as a
message, to an actor ref (`reply_to=`). Neither blocks the sender.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pykka
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

# Where delivered messages go: an actor (told each message) or a callable run on the bus
# loop thread (it must return quickly; for non-actor code such as benches and tests).
Target = pykka.ActorRef[Any] | Callable[[Any], None]


class BusOptions(BaseModel):
    """How the BusActor connects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers: tuple[str, ...] = Field(("nats://127.0.0.1:4222",), description="Server URLs, any node of a cluster.")
    name: str = "partout"
    seed_file: Path | None = Field(None, description="nkey seed file (0600) of this identity.")
    credentials_file: Path | None = Field(None, description="NATS .creds file (user JWT + seed).")
    inbox_prefix: str = Field("_INBOX", description="Reply subjects prefix; per agent `_INBOX_<id>`.")
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    connect_timeout: float = 2.0
    reconnect_wait: float = 0.25
    refused_max_wait: float | None = Field(
        None, description="When the server refuses these credentials, the wait between attempts doubles from "
        "reconnect_wait up to this many seconds (a revoked agent must not knock 4 times a second); "
        "None: retry every reconnect_wait.")
    max_buffer_bytes: int = Field(
        8 << 20, description="Publishes buffered while disconnected; beyond it a publish is refused and counted."
    )
    max_queued: int = Field(
        100_000, description="Publishes waiting for the first connection (or a busy loop); beyond: refused, counted."
    )
    jetstream_timeout: float = Field(5.0, description="Seconds to wait for a JetStream API (KV, streams) answer.")
    max_inflight: int = Field(512, description="JetStream publishes awaiting their ack at once.")


@dataclass(frozen=True)
class Publish:
    subject: str
    data: bytes
    headers: Mapping[str, str] | None = None
    reply: str = ""


@dataclass(frozen=True)
class Request:
    subject: str
    data: bytes
    timeout: float = 2.0
    future: pykka.Future[Any] | None = None
    reply_to: pykka.ActorRef[Any] | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Subscribe:
    subject: str
    target: Target
    queue: str = ""
    future: pykka.Future[Any] | None = None  # gets the subscription id


@dataclass(frozen=True)
class Unsubscribe:
    subscription: str
    future: pykka.Future[Any] | None = None


@dataclass(frozen=True)
class JetStreamPublish:
    """Publish to a stream and wait for its ack. `message_id` (Nats-Msg-Id) makes retries
    after a lost ack safe: the stream stores it once within its duplicate window."""

    subject: str
    data: bytes
    message_id: str | None = None
    timeout: float = 30.0
    future: pykka.Future[Any] | None = None
    reply_to: pykka.ActorRef[Any] | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class KeyValuePut:
    """Put a value; with `last_revision`, only if the key is still at that revision (0: only
    if it has no value), else KeyValueConflict: compare-and-set between several writers."""

    bucket: str
    key: str
    value: bytes
    future: pykka.Future[Any] | None = None  # gets the revision
    last_revision: int | None = None


@dataclass(frozen=True)
class KeyValueGet:
    bucket: str
    key: str
    future: pykka.Future[Any] | None = None  # gets a KeyValueChange or None


@dataclass(frozen=True)
class KeyValueWatch:
    bucket: str
    key: str
    target: Target
    future: pykka.Future[Any] | None = None  # gets the watch id (use with Unsubscribe)
    # a core subject the bucket republishes this key's changes to (subjects.policy_updates):
    # followed with a plain subscription plus one direct get, so it works under agent
    # permissions; None: a JetStream watch (needs consumer-creation rights)
    updates: str | None = None


@dataclass(frozen=True)
class JetStreamConsume:
    """Consume a stream through a DURABLE pull consumer shared by every process that names
    it (e.g. all masters): each message is delivered to `target` as a JetStreamDelivery and
    redelivered after `ack_wait` seconds unless its `ack()` was called."""

    stream: str
    durable: str
    subject: str
    target: Target
    ack_wait: float = 10.0
    batch: int = 64
    max_ack_pending: int = 4096
    future: pykka.Future[Any] | None = None  # gets the consume id (use with Unsubscribe)


@dataclass(frozen=True)
class WatchConnection:
    """Tell `target` a ConnectionState on every change (and the current one now)."""

    target: Target


@dataclass(frozen=True)
class Flush:
    timeout: float = 5.0
    future: pykka.Future[Any] | None = None


@dataclass(frozen=True)
class EnsureStreams:
    replicas: int = 1
    keep_higher: bool = False  # an existing stream with more replicas keeps them
    future: pykka.Future[Any] | None = None


@dataclass(frozen=True)
class GetStats:
    future: pykka.Future[Any] | None = None


# -- what the BusActor sends --------------------------------------------------------


@dataclass(frozen=True)
class BusMessage:
    subject: str
    data: bytes
    reply: str = ""
    headers: Mapping[str, str] | None = None
    subscription: str = ""


@dataclass(frozen=True)
class JetStreamDelivery:
    """A stream message from JetStreamConsume; call `ack()` once it is safely stored, or
    `nak()` to have it redelivered now (both thread-safe, they hop to the bus loop)."""

    subject: str
    data: bytes
    headers: Mapping[str, str] | None
    delivered: int  # 1 on first delivery, more on redelivery
    ack: Callable[[], None] = field(repr=False, compare=False)
    nak: Callable[[], None] = field(repr=False, compare=False)
    stream_sequence: int = 0  # where it stays in the stream (limits retention) until it ages out

    def retry(self, deliveries: int, *, what: str) -> bool:
        """It could not be stored: have it redelivered, unless it has been `deliveries` times
        already (poison: acknowledged, so that it stops blocking what comes after it, and
        logged as an error naming where it stays; True)."""
        if self.delivered < deliveries:
            self.nak()
            return False
        self.ack()
        log.error("%s on %s given up after %d deliveries; it stays in its stream at sequence %d until it "
                  "ages out", what, self.subject, self.delivered, self.stream_sequence,
                  extra={"subject": self.subject, "delivered": self.delivered, "sequence": self.stream_sequence})
        return True


@dataclass(frozen=True)
class RequestReply:
    """Told to `reply_to` of a Request: the reply, or the error that replaced it."""

    subject: str
    reply: BusMessage | None
    error: str = ""


@dataclass(frozen=True)
class PublishAck:
    subject: str
    message_id: str | None
    stream: str = ""
    sequence: int = 0
    duplicate: bool = False
    error: str = ""


@dataclass(frozen=True)
class KeyValueChange:
    bucket: str
    key: str
    value: bytes | None
    revision: int
    operation: Literal["put", "delete", "purge"] = "put"


@dataclass(frozen=True)
class ConnectionState:
    """`refused`: the server refused these credentials (authorization violation), and the
    bus retries with growing pauses; `reason` says what the server or client said, e.g.
    why a connection was `closed` ("user authentication expired")."""

    state: Literal["connecting", "connected", "disconnected", "reconnected", "closed", "refused"]
    server: str = ""
    reason: str = ""
    retry_in: float = 0.0


@dataclass(frozen=True)
class BusStats:
    state: str
    published: int
    refused: int  # publishes refused: buffer full while disconnected, or bus closed
    delivered: int
    reconnects: int
    jetstream_retries: int
    errors: Mapping[str, int] = field(default_factory=dict)
    server: str = ""  # host:port of the server connected to ("" while not connected)
