"""BusActor: the only owner of a nats-py connection, on its own asyncio loop thread.

Other actors `tell` it the messages of partout.bus.messages; results come back in a pykka
Future or as a message to an actor ref. `on_receive` never waits on the network: it hands
the work to the loop (`run_coroutine_threadsafe`) and returns.

Publishes take a fast path: they are appended to an `Outbox` (a deque) and one drain task
on the loop sends everything queued, so a burst costs one loop wake-up, not one per message.
While disconnected, nats-py buffers up to `max_buffer_bytes`; beyond that a publish is
REFUSED and counted (`BusStats.refused`): the newest message is lost, never a silent
rewrite of what is already queued.

Non-actor code (agent, master, CLI) uses the `Bus` facade, whose methods return futures.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import random
import ssl

import threading
import time

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import pykka

from partout.errors import BusError
from partout.bus.messages import (
    BusMessage, BusOptions, BusStats, ConnectionState, EnsureStreams, Flush, GetStats, JetStreamConsume,
    JetStreamDelivery, JetStreamPublish,
    KeyValueChange, KeyValueGet, KeyValuePut, KeyValueWatch, Publish, PublishAck, Request, RequestReply,
    Subscribe, Target, Unsubscribe, WatchConnection,
)
from partout.state import read_secret

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

MAX_QUEUED_BEFORE_CONNECT = 100_000


def _deliver(target: Target, message: object) -> None:
    if isinstance(target, pykka.ActorRef):
        target.tell(message)
    else:
        target(message)


def _fail(future: pykka.Future[Any] | None, error: BaseException) -> None:
    if future is not None:
        future.set_exception((type(error), error, error.__traceback__))


class Outbox:
    """Publishes waiting for the loop; appended to from any thread."""

    def __init__(self, limit: int = MAX_QUEUED_BEFORE_CONNECT) -> None:
        self.limit = limit
        self.queue: collections.deque[Publish] = collections.deque()
        self.lock = threading.Lock()
        self.scheduled = False
        self.refused = 0
        self.wake: Any = None  # set by the actor: schedules one drain on its loop
        # set by the actor: hands any message to its loop from the caller's thread (what
        # on_receive does, minus the mailbox hop); the Bus facade's fast path
        self.dispatch: Any = None

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


class BusActor(pykka.ThreadingActor):
    """Owns the connection; see the module docstring."""

    def __init__(self, options: BusOptions, outbox: Outbox | None = None) -> None:
        super().__init__()
        self._options = options
        self._outbox = outbox or Outbox(options.max_queued)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="partout-bus", daemon=True)
        self._outbox.wake = lambda: self._loop.call_soon_threadsafe(self._start_drain)
        self._outbox.dispatch = self._dispatch
        self._connection: Client | None = None
        self._jetstream: JetStreamContext | None = None
        self._closing = False
        self._stopped = False
        # Python >= 3.10: asyncio primitives bind to the loop on first use, not here
        self._ready = asyncio.Event()
        self._inflight = asyncio.Semaphore(options.max_inflight)
        self._thread.start()
        self._state = ConnectionState("connecting")
        self._watchers: list[Target] = []
        self._subscriptions: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._published = self._refused = self._delivered = self._reconnects = self._retries = 0
        self._refusals = 0  # authorization refusals in a row while reconnecting
        self._errors: collections.Counter[str] = collections.Counter()

    # -- actor thread ------------------------------------------------------------------

    def on_start(self) -> None:
        # the loop runs from __init__ on (the Bus facade may dispatch before on_start); the
        # connection starts here, and requests made before it wait for it
        self._spawn(self._connect())

    def on_stop(self) -> None:
        self._stopped = True
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        except Exception:
            log.warning("bus did not close cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def on_receive(self, message: Any) -> Any:
        if not self._dispatch(message):
            return super().on_receive(message)
        return None

    def _dispatch(self, message: Any) -> bool:
        """Hand `message` to the loop; False if it is not a bus message. Only schedules work
        (thread-safe), so the Bus facade may call it from any thread while the actor lives."""
        if self._stopped:
            _fail(getattr(message, "future", None), BusError("the bus is stopped"))
            return True
        match message:
            case Publish():
                self._outbox.put(message)
            case Request():
                self._spawn(self._request(message), message.future)
            case Subscribe():
                self._spawn(self._subscribe(message), message.future)
            case Unsubscribe():
                self._spawn(self._unsubscribe(message), message.future)
            case JetStreamPublish():
                self._spawn(self._jetstream_publish(message), message.future)
            case JetStreamConsume():
                self._spawn(self._jetstream_consume(message), message.future)
            case KeyValuePut() | KeyValueGet() | KeyValueWatch():
                self._spawn(self._key_value(message), message.future)
            case WatchConnection(target=target):
                self._loop.call_soon_threadsafe(self._watch_connection, target)
            case Flush():
                self._spawn(self._flush(message), message.future)
            case EnsureStreams():
                self._spawn(self._ensure_streams(message), message.future)
            case GetStats(future=future):
                self._loop.call_soon_threadsafe(self._report_stats, future)
            case _:
                return False
        return True

    def _spawn(self, coroutine: Coroutine[Any, Any, None], future: pykka.Future[Any] | None = None) -> None:
        done = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        done.add_done_callback(lambda finished: self._check(finished, future))

    @staticmethod
    def _check(finished: Any, future: pykka.Future[Any] | None) -> None:
        # a bug in a handler must surface: fail the caller's future rather than leave it hanging
        if finished.cancelled():
            _fail(future, BusError("the bus stopped before this operation finished"))
            return
        if finished.exception() is None:
            return
        error = finished.exception()
        log.error("bus operation failed", exc_info=(type(error), error, error.__traceback__))
        _fail(future, BusError(f"bus operation failed: {type(error).__name__}: {error}"))

    # -- loop thread -------------------------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        self._state = state
        for target in list(self._watchers):
            _deliver(target, state)

    def _watch_connection(self, target: Target) -> None:
        self._watchers.append(target)
        _deliver(target, self._state)

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

    async def _connect(self) -> None:
        import nats

        try:
            options = self._connect_options()
        except Exception as error:
            log.error("bus cannot connect", extra={"error": str(error)})
            self._set_state(ConnectionState("closed"))
            return
        refusals = 0
        while not self._closing:
            try:
                self._connection = await nats.connect(**options)
            except Exception as error:
                self._errors[type(error).__name__] += 1
                if self._options.refused_max_wait is not None and is_refusal(error):
                    refusals += 1
                    wait = refusal_wait(self._options.reconnect_wait, self._options.refused_max_wait, refusals)
                    log.info("NATS refused these credentials, retrying later",
                             extra={"error": str(error), "retry_in": round(wait, 1)})
                    self._set_state(ConnectionState("refused", reason=str(error), retry_in=wait))
                    await asyncio.sleep(wait)
                    continue
                if self._state.state != "disconnected":
                    log.warning("bus cannot reach NATS, retrying", extra={"servers": self._options.servers,
                                                                         "error": str(error)})
                    self._set_state(ConnectionState("disconnected"))
                await asyncio.sleep(self._options.reconnect_wait)
                continue
            self._jetstream = self._connection.jetstream(timeout=self._options.jetstream_timeout)
            self._ready.set()
            self._set_state(ConnectionState("connected", self._connection.connected_url.netloc
                                            if self._connection.connected_url else ""))
            return

    async def _connected(self) -> Client:
        await self._ready.wait()
        assert self._connection is not None
        return self._connection

    async def _on_error(self, error: Exception) -> None:
        self._errors[str(error) if "permissions violation" in str(error) else type(error).__name__] += 1
        log.debug("bus error", extra={"error": str(error)})
        connection = self._connection
        if self._options.refused_max_wait is not None and connection is not None and is_refusal(error):
            # refused while nats-py reconnects on its own (e.g. kicked at revocation): it would
            # knock every reconnect_wait forever. It reads this option before each attempt.
            self._refusals += 1
            wait = refusal_wait(self._options.reconnect_wait, self._options.refused_max_wait, self._refusals)
            connection.options["reconnect_time_wait"] = wait
            self._set_state(ConnectionState("refused", reason=str(error), retry_in=wait))

    async def _on_disconnected(self) -> None:
        if not self._closing:
            self._set_state(ConnectionState("disconnected"))

    async def _on_reconnected(self) -> None:
        self._reconnects += 1
        if self._refusals and self._connection is not None:
            self._refusals = 0
            self._connection.options["reconnect_time_wait"] = self._options.reconnect_wait
        url = self._connection.connected_url if self._connection else None
        self._set_state(ConnectionState("reconnected", url.netloc if url else ""))

    async def _on_closed(self) -> None:
        error = self._connection.last_error if self._connection is not None else None
        self._set_state(ConnectionState("closed", reason=str(error) if error is not None else ""))

    def _start_drain(self) -> None:
        self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        from nats.errors import ConnectionClosedError, OutboundBufferLimitError

        queue, outbox = self._outbox.queue, self._outbox
        connection = self._connection if self._connection is not None else await self._connected()
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
                await connection.publish(message.subject, message.data, reply=message.reply,
                                         headers=dict(message.headers) if message.headers else None)
                self._published += 1
            except (OutboundBufferLimitError, ConnectionClosedError) as error:
                self._refused += 1
                self._errors[type(error).__name__] += 1

    async def _request(self, message: Request) -> None:
        try:
            connection = await self._connected()
            reply = await connection.request(message.subject, message.data, timeout=message.timeout,
                                             headers=dict(message.headers) if message.headers else None)
        except Exception as error:
            failure = BusError(f"request to {message.subject} failed: {type(error).__name__} {error}".strip())
            _fail(message.future, failure)
            if message.reply_to is not None:
                message.reply_to.tell(RequestReply(message.subject, None, str(failure)))
            return
        result = BusMessage(reply.subject, reply.data, reply.reply, reply.headers)
        if message.future is not None:
            message.future.set(result)
        if message.reply_to is not None:
            message.reply_to.tell(RequestReply(message.subject, result))

    async def _subscribe(self, message: Subscribe) -> None:
        identifier = f"sub-{next(self._ids)}"
        target = message.target

        async def deliver(received: Msg) -> None:
            self._delivered += 1
            _deliver(target, BusMessage(received.subject, received.data, received.reply, received.headers,
                                        identifier))

        try:
            connection = await self._connected()
            self._subscriptions[identifier] = await connection.subscribe(
                message.subject, queue=message.queue, cb=deliver, pending_msgs_limit=1_000_000)
            await connection.flush()
        except Exception as error:
            _fail(message.future, BusError(f"cannot subscribe to {message.subject}: {error}"))
            return
        if message.future is not None:
            message.future.set(identifier)

    async def _unsubscribe(self, message: Unsubscribe) -> None:
        subscription = self._subscriptions.pop(message.subscription, None)
        try:
            if isinstance(subscription, asyncio.Task):
                subscription.cancel()
            elif subscription is not None:
                await subscription.unsubscribe()
        except Exception as error:
            _fail(message.future, BusError(f"cannot unsubscribe {message.subscription}: {error}"))
            return
        if message.future is not None:
            message.future.set(None)

    async def _jetstream_publish(self, message: JetStreamPublish) -> None:
        from nats.errors import NoRespondersError

        headers = dict(message.headers or {})
        if message.message_id is not None:
            headers["Nats-Msg-Id"] = message.message_id
        deadline = time.monotonic() + message.timeout
        await self._connected()
        assert self._jetstream is not None
        async with self._inflight:
            attempt = 0
            while True:
                try:
                    ack = await self._jetstream.publish(message.subject, message.data, headers=headers or None,
                                                        timeout=max(0.1, min(2.0, deadline - time.monotonic())))
                    result = PublishAck(message.subject, message.message_id, ack.stream, ack.seq,
                                        bool(ack.duplicate))
                    break
                except Exception as error:  # timeouts, no responders, leader elections, reconnects
                    # without a message id a timed-out publish may have been stored: no retry
                    retryable = message.message_id is not None or isinstance(error, NoRespondersError)
                    if not retryable or time.monotonic() >= deadline:
                        result = PublishAck(message.subject, message.message_id,
                                            error=f"{type(error).__name__}: {error}")
                        break
                    self._retries += 1
                    attempt += 1
                    await asyncio.sleep(min(0.05 * attempt, 0.5))
        if message.future is not None:
            if result.error:
                _fail(message.future, BusError(f"JetStream publish to {message.subject} failed: {result.error}"))
            else:
                message.future.set(result)
        if message.reply_to is not None:
            message.reply_to.tell(result)

    async def _jetstream_consume(self, message: JetStreamConsume) -> None:
        from nats.js import api

        try:
            await self._connected()
            assert self._jetstream is not None
            config = api.ConsumerConfig(
                durable_name=message.durable, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=message.ack_wait,
                max_ack_pending=message.max_ack_pending, deliver_policy=api.DeliverPolicy.ALL,
            )
            subscription = await self._jetstream.pull_subscribe(
                message.subject, durable=message.durable, stream=message.stream, config=config)
        except Exception as error:
            _fail(message.future, BusError(f"cannot consume {message.stream}/{message.durable}: "
                                           f"{type(error).__name__} {error}"))
            return
        identifier = f"consume-{next(self._ids)}"
        self._subscriptions[identifier] = self._loop.create_task(
            self._pull(subscription, message.batch, message.target))
        if message.future is not None:
            message.future.set(identifier)

    async def _pull(self, subscription: Any, batch: int, target: Target) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        loop = self._loop

        def later(coroutine_function: Any) -> Any:
            # acks come from other threads; the message's methods must run on this loop
            return lambda: loop.call_soon_threadsafe(lambda: loop.create_task(coroutine_function()))

        try:
            while not self._closing:
                try:
                    received = await subscription.fetch(batch, timeout=1.0)
                except (NatsTimeout, asyncio.TimeoutError):
                    continue
                except Exception as error:  # disconnected, consumer deleted: retry shortly
                    self._errors[type(error).__name__] += 1
                    await asyncio.sleep(0.25)
                    continue
                for item in received:
                    self._delivered += 1
                    delivered = item.metadata.num_delivered if item.metadata else 1
                    _deliver(target, JetStreamDelivery(item.subject, item.data, item.headers, delivered,
                                                       later(item.ack), later(item.nak)))
        finally:
            if not self._closing:  # closing: the connection goes, and the loop stops right after
                try:
                    await subscription.unsubscribe()
                except Exception:
                    pass

    async def _key_value(self, message: KeyValuePut | KeyValueGet | KeyValueWatch) -> None:
        from nats.js.errors import KeyNotFoundError

        try:
            await self._connected()
            assert self._jetstream is not None
            bucket = await self._jetstream.key_value(message.bucket)
            match message:
                case KeyValuePut():
                    result: Any = await bucket.put(message.key, message.value)
                case KeyValueGet():
                    try:
                        entry = await bucket.get(message.key)
                        result = KeyValueChange(message.bucket, entry.key, entry.value, entry.revision or 0)
                    except KeyNotFoundError:
                        result = None
                case KeyValueWatch() if message.updates is not None:
                    result = await self._follow_key(message, bucket)
                case KeyValueWatch():
                    watcher = await bucket.watch(message.key)
                    result = f"watch-{next(self._ids)}"
                    self._subscriptions[result] = self._loop.create_task(
                        self._watch_key(message.bucket, watcher, message.target))
        except Exception as error:
            _fail(message.future, BusError(f"KV {message.bucket}/{message.key}: {type(error).__name__} {error}"))
            return
        if message.future is not None:
            message.future.set(result)

    async def _follow_key(self, message: KeyValueWatch, bucket: Any) -> str:
        """Subscribe to the key's republished changes first, then read its current value, so
        nothing falls between the two; revisions already delivered are skipped."""
        from nats.js.errors import KeyNotFoundError

        identifier = f"watch-{next(self._ids)}"
        latest = 0
        target = message.target

        def deliver(change: KeyValueChange) -> None:
            nonlocal latest
            if change.revision > latest:
                latest = change.revision
                _deliver(target, change)

        async def on_update(received: Msg) -> None:
            headers = received.headers or {}
            operation = headers.get("KV-Operation", "")
            deliver(KeyValueChange(
                message.bucket, message.key, received.data if not operation else None,
                int(headers.get("Nats-Sequence", "0") or 0),
                "delete" if operation == "DEL" else "purge" if operation == "PURGE" else "put"))

        connection = await self._connected()
        assert message.updates is not None
        self._subscriptions[identifier] = await connection.subscribe(message.updates, cb=on_update)
        await connection.flush()
        try:
            entry = await bucket.get(message.key)
            deliver(KeyValueChange(message.bucket, entry.key, entry.value, entry.revision or 0))
        except KeyNotFoundError:
            pass
        return identifier

    async def _watch_key(self, bucket: str, watcher: Any, target: Target) -> None:
        try:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    continue
                operation = str(entry.operation or "")
                _deliver(target, KeyValueChange(
                    bucket, entry.key, entry.value, entry.revision or 0,
                    "delete" if operation == "DEL" else "purge" if operation == "PURGE" else "put"))
        finally:
            await watcher.stop()

    async def _flush(self, message: Flush) -> None:
        try:
            connection = await self._connected()
            while self._outbox.queue or self._outbox.scheduled:
                await asyncio.sleep(0.001)
            await connection.flush(timeout=max(1, round(message.timeout)))
        except Exception as error:
            _fail(message.future, BusError(f"flush failed: {type(error).__name__} {error}"))
            return
        if message.future is not None:
            message.future.set(None)

    async def _ensure_streams(self, message: EnsureStreams) -> None:
        from partout.nats.streams import ensure_streams

        try:
            await self._connected()
            assert self._jetstream is not None
            await ensure_streams(self._jetstream, replicas=message.replicas, keep_higher=message.keep_higher)
        except Exception as error:
            _fail(message.future, error if isinstance(error, BusError) else BusError(str(error)))
            return
        if message.future is not None:
            message.future.set(None)

    def _report_stats(self, future: pykka.Future[Any] | None) -> None:
        if future is not None:
            future.set(BusStats(self._state.state, self._published, self._refused + self._outbox.refused,
                                self._delivered,
                                self._reconnects, self._retries, dict(self._errors)))

    async def _close(self) -> None:
        self._closing = True
        for subscription in self._subscriptions.values():
            if isinstance(subscription, asyncio.Task):
                subscription.cancel()
        if self._connection is not None and not self._connection.is_closed:
            try:
                if self._connection.is_connected:
                    while self._outbox.queue or self._outbox.scheduled:
                        await asyncio.sleep(0.001)
                    await self._connection.flush(timeout=2)
            except Exception:
                pass
            await self._connection.close()
        # what still waits (a first connection that never came, requests waiting for it):
        # cancel it so the loop stops with nothing pending
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


def is_refusal(error: BaseException) -> bool:
    """The server refused the credentials (auth callout said no, or did not answer)."""
    return "authorization violation" in str(error).lower()


def refusal_wait(first: float, limit: float, refusals: int) -> float:
    """Doubling pauses from `first` up to `limit`, with jitter so a fleet does not knock in step."""
    growth: float = 2.0 ** min(refusals - 1, 30)
    return min(limit, first * growth) * random.uniform(0.8, 1.0)


__all__ = ["BusActor", "Outbox"]
