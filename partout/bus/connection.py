"""`Connection`: the bus's one nats-py client, from the first connect to the close.

It connects (retrying on the shared `Backoff` while no server answers), tells watchers every
`ConnectionState`, and backs off when the server refuses these credentials: a revoked
agent must not knock every `reconnect_wait` forever. Everything here runs on the bus loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import TYPE_CHECKING, Any

import pykka

from partout.bus.messages import BusOptions, ConnectionState, Target
from partout.errors import BusError
from partout.retry import Backoff
from partout.state import read_secret

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

# retry waits lose at most this fraction to jitter (tests/security read the gaps in the server's log)
RETRY_JITTER = 0.2


def deliver(target: Target, message: object) -> None:
    """Tell an actor, or call a callable on the bus loop."""
    if isinstance(target, pykka.ActorRef):
        target.tell(message)
    else:
        target(message)


def is_refusal(error: BaseException) -> bool:
    """The server refused the credentials (auth callout said no, or did not answer)."""
    return "authorization violation" in str(error).lower()


def is_unreachable(error: BaseException) -> bool:
    """No server answered: refused or timed-out TCP, TLS, or a connection lost mid-handshake."""
    from nats.errors import UnexpectedEOF

    return isinstance(error, (OSError, asyncio.TimeoutError, UnexpectedEOF))


async def round_trip(client: Any, timeout: float = 10.0) -> None:
    """Returns once the server has processed everything this client sent so far: a
    subscription is then live for every other client's next publish.

    Two PINGs, because nats-py (2.16) writes a flush's PING straight to the socket while
    commands just queued for its flusher task (a SUB) may still wait: the first PONG can come
    back before the server saw them (about 4 times in 100 on this machine, with a publish from
    another connection right after then lost). The second PING leaves after them."""
    await client.flush(timeout=max(1, round(timeout)))
    await client.flush(timeout=max(1, round(timeout)))


class Connection:
    """Owns the nats-py client and its JetStream context; see the module docstring."""

    def __init__(self, options: BusOptions) -> None:
        self._options = options
        self._client: Client | None = None  # once connected
        self._current: Client | None = None  # the one connecting, then connected
        self._jetstream: JetStreamContext | None = None
        # Python >= 3.10: asyncio primitives bind to the loop on first use, not here
        self._ready = asyncio.Event()
        self._watchers: list[Target] = []
        self.state = ConnectionState("connecting")
        self.closing = False
        self.reconnects = 0
        self.errors: collections.Counter[str] = collections.Counter()
        pause = max(options.reconnect_wait, 0.001)
        # no server answers: try again every reconnect_wait (a little less, so that a fleet
        # started together does not knock in step)
        self._unreachable = Backoff(first=pause, limit=pause, factor=1.0, jitter=RETRY_JITTER)
        # refused: doubling pauses from reconnect_wait up to refused_max_wait
        self._refused = (None if options.refused_max_wait is None else
                         Backoff(first=pause, limit=max(pause, options.refused_max_wait), jitter=RETRY_JITTER))

    # -- state ---------------------------------------------------------------------------

    def watch(self, target: Target) -> None:
        self._watchers.append(target)
        deliver(target, self.state)

    def _set_state(self, state: ConnectionState) -> None:
        self.state = state
        for target in list(self._watchers):
            deliver(target, state)

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    # -- connecting ----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, retrying until a server accepts or the bus closes.

        nats-py retries a first connect on its own (max_reconnect_attempts=-1), calling
        `_on_error` after each failed attempt and then waiting its `reconnect_time_wait`:
        `_on_error` sets that wait from the Backoff, before the first connect as after it."""
        from nats.aio.client import Client as NatsClient

        try:
            options = self._connect_options()
        except Exception as error:
            log.error("bus cannot connect", extra={"error": str(error)})
            self._set_state(ConnectionState("closed", reason=str(error)))
            return
        while not self.closing:
            client = NatsClient()
            self._current = client
            try:
                await client.connect(**options)
            except Exception as error:  # what nats-py does not retry itself
                self.errors[type(error).__name__] += 1
                await asyncio.sleep(self._after_failure(error))
                continue
            self._client = client
            self._jetstream = client.jetstream(timeout=self._options.jetstream_timeout)
            self._ready.set()
            self._succeeded(client)
            self._set_state(ConnectionState("connected", client.connected_url.netloc if client.connected_url else ""))
            return

    def _after_failure(self, error: Exception) -> float:
        """Report a failed connect attempt; how long to wait before the next one."""
        refused = self._refused
        if refused is not None and is_refusal(error):
            wait = refused.next()
            if self.state.state != "refused":
                log.info("NATS refused these credentials, retrying later",
                         extra={"error": str(error), "retry_in": round(wait, 1)})
            self._set_state(ConnectionState("refused", reason=str(error), retry_in=wait))
            return wait
        if self.state.state == "connecting":
            # before the first connection (after it, nats-py's disconnected_cb says it)
            log.info("bus cannot reach NATS, retrying", extra={"servers": self._options.servers,
                                                              "error": str(error)})
            self._set_state(ConnectionState("disconnected"))
        if refused is not None and refused.attempts():
            # refused lately: a failure of another kind keeps the refusal's pace
            return refused.delay(refused.attempts())
        return self._unreachable.next()

    def _succeeded(self, client: Client) -> None:
        """Connected: the next failure starts the backoff afresh."""
        self._unreachable.reset()
        if self._refused is not None:
            self._refused.reset()
        client.options["reconnect_time_wait"] = self._options.reconnect_wait

    def _connect_options(self) -> dict[str, Any]:
        options = self._options
        result: dict[str, Any] = dict(
            servers=list(options.servers), name=options.name, inbox_prefix=options.inbox_prefix,
            connect_timeout=options.connect_timeout, reconnect_time_wait=options.reconnect_wait,
            max_reconnect_attempts=-1, allow_reconnect=True, pending_size=options.max_buffer_bytes,
            ping_interval=5, max_outstanding_pings=2,
            error_cb=self._on_error, disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected, closed_cb=self._on_closed,
        )
        if options.seed_file is not None:
            result["nkeys_seed_str"] = read_secret(options.seed_file).decode("ascii").strip()
        if options.credentials_file is not None:
            read_secret(options.credentials_file)  # refuse unsafe modes before nats-py reads it
            result["user_credentials"] = str(options.credentials_file)
        if options.tls_ca or options.tls_cert:
            context = ssl.create_default_context(cafile=str(options.tls_ca) if options.tls_ca else None)
            if options.tls_cert:
                context.load_cert_chain(str(options.tls_cert), str(options.tls_key) if options.tls_key else None)
            result["tls"] = context
        return result

    async def client(self) -> Client:
        """The connected client; waits for the first connection."""
        if self._client is None:
            await self._ready.wait()
        assert self._client is not None
        return self._client

    async def jetstream(self) -> JetStreamContext:
        if self._jetstream is None:
            await self._ready.wait()
        assert self._jetstream is not None
        return self._jetstream

    # -- nats-py's callbacks (after the first connect, nats-py reconnects on its own) ------

    async def _on_error(self, error: Exception) -> None:
        self.errors[str(error) if "permissions violation" in str(error) else type(error).__name__] += 1
        log.debug("bus error", extra={"error": str(error)})
        client = self._current
        if client is None or client.is_connected or not (is_refusal(error) or is_unreachable(error)):
            return
        # a failed (re)connect attempt: nats-py reads this option before the next one
        client.options["reconnect_time_wait"] = self._after_failure(error)

    async def _on_disconnected(self) -> None:
        if not self.closing:
            self._set_state(ConnectionState("disconnected"))

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        if self._client is not None:
            self._succeeded(self._client)
        url = self._client.connected_url if self._client else None
        self._set_state(ConnectionState("reconnected", url.netloc if url else ""))

    async def _on_closed(self) -> None:
        error = self._client.last_error if self._client is not None else None
        self._set_state(ConnectionState("closed", reason=str(error) if error is not None else ""))

    # -- closing -------------------------------------------------------------------------

    async def flush(self, timeout: float) -> None:
        """Returns once the server has everything written so far (see `round_trip`)."""
        client = await self.client()
        try:
            await round_trip(client, timeout)
        except Exception as error:
            raise BusError(f"flush failed: {type(error).__name__} {error}".strip()) from error

    async def close(self) -> None:
        self.closing = True
        if self._client is not None and not self._client.is_closed:
            await self._client.close()


__all__ = ["Connection", "deliver", "is_refusal", "is_unreachable", "round_trip"]
