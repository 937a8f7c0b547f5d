"""BusActor: the only owner of a nats-py connection, on its own asyncio loop thread.

Other actors `tell` it the messages of partout.bus.messages; results come back in a pykka
Future or as a message to an actor ref. `on_receive` never waits on the network: it hands
the work to the loop (`run_coroutine_threadsafe`) and returns.

The work itself is done by small parts that each own their state, all on the loop:

    Connection     connect, reconnect, refusal backoff, ConnectionState    connection.py
    PubSub         outbox drain, request/reply, subscribe, flush           pubsub.py
    JetStream      publish with acks, pull consumers, streams              jetstream.py
    KeyValue       put, get, watch                                         kv.py
    Subscriptions  what Unsubscribe can end, by id                         subscriptions.py

Non-actor code (agent, master, CLI) uses the `Bus` facade, whose methods return futures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pykka

from partout.bus.connection import Connection
from partout.bus.jetstream import JetStream
from partout.bus.kv import KeyValue
from partout.bus.messages import (
    BusOptions, BusStats, EnsureStreams, Flush, GetStats, JetStreamConsume, JetStreamPublish, KeyValueGet,
    KeyValuePut, KeyValueWatch, Publish, Request, Subscribe, Unsubscribe, WatchConnection,
)
from partout.bus.pubsub import Outbox, PubSub
from partout.bus.subscriptions import Subscriptions
from partout.errors import BusError

log = logging.getLogger(__name__)

# how long closing waits for queued publishes to reach nats-py, then for the server's PONG
CLOSE_DRAIN_TIMEOUT = 5.0
CLOSE_FLUSH_TIMEOUT = 2.0


def _fail(future: pykka.Future[Any] | None, error: BaseException) -> None:
    if future is not None:
        future.set_exception((type(error), error, error.__traceback__))


def cancel_leftover_tasks(loop: asyncio.AbstractEventLoop, rounds: int = 3) -> None:
    """Cancel what was scheduled on the stopped `loop` after the close swept its tasks: an ack
    or a publish's wake-up sent from another thread meanwhile creates a task the loop never
    starts, and asyncio would warn at exit of a coroutine never awaited. Each round runs the
    loop until the cancelled tasks end (callbacks still queued may create more)."""
    for _ in range(rounds):
        leftovers = asyncio.all_tasks(loop)
        if not leftovers:
            return
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


class BusActor(pykka.ThreadingActor):
    """Owns the connection's loop and dispatches to its parts; see the module docstring."""

    def __init__(self, options: BusOptions, outbox: Outbox | None = None) -> None:
        super().__init__()
        self._outbox = outbox or Outbox(options.max_queued)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="partout-bus", daemon=True)
        self._stopped = False
        self._connection = Connection(options)
        self._subscriptions = Subscriptions()
        self._pubsub = PubSub(self._connection, self._outbox, self._subscriptions)
        self._jetstream = JetStream(self._connection, self._subscriptions, options.max_inflight)
        self._key_value = KeyValue(self._connection, self._subscriptions)
        # each message that asks for work on the loop -> the part that does it
        self._handlers: dict[type[Any], Callable[[Any], Coroutine[Any, Any, object]]] = {
            Request: self._pubsub.request, Subscribe: self._pubsub.subscribe, Flush: self._pubsub.flush,
            Unsubscribe: lambda message: self._subscriptions.remove(message.subscription),
            JetStreamPublish: self._jetstream.publish, JetStreamConsume: self._jetstream.consume,
            EnsureStreams: self._jetstream.ensure_streams,
            KeyValuePut: self._key_value.put, KeyValueGet: self._key_value.get, KeyValueWatch: self._key_value.watch,
        }
        self._outbox.wake = lambda: self._loop.call_soon_threadsafe(self._pubsub.start_drain)
        self._outbox.dispatch = self._dispatch
        self._thread.start()

    # -- actor thread ------------------------------------------------------------------

    def on_start(self) -> None:
        # the loop runs from __init__ on (the Bus facade may dispatch before on_start); the
        # connection starts here, and requests made before it wait for it
        self._spawn(self._connection.run())

    def on_stop(self) -> None:
        self._stopped = True
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        except Exception:
            log.warning("bus did not close cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            cancel_leftover_tasks(self._loop)

    def on_receive(self, message: Any) -> Any:
        if not self._dispatch(message):
            return super().on_receive(message)
        return None

    def _dispatch(self, message: object) -> bool:
        """Hand `message` to the loop; False if it is not a bus message. Only schedules work
        (thread-safe), so the Bus facade may call it from any thread while the actor lives."""
        if self._stopped:
            _fail(getattr(message, "future", None), BusError("the bus is stopped"))
            return True
        if isinstance(message, Publish):
            self._outbox.put(message)
        elif (handler := self._handlers.get(type(message))) is not None:
            self._spawn(handler(message), getattr(message, "future", None))
        elif isinstance(message, WatchConnection):
            self._loop.call_soon_threadsafe(self._connection.watch, message.target)
        elif isinstance(message, GetStats):
            self._loop.call_soon_threadsafe(self._report_stats, message.future)
        else:
            return False
        return True

    def _spawn(self, coroutine: Coroutine[Any, Any, object], future: pykka.Future[Any] | None = None) -> None:
        """Run `coroutine` on the loop; its result (or its BusError) goes to `future`."""
        done = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        done.add_done_callback(lambda finished: self._settle(finished, future))

    @staticmethod
    def _settle(finished: concurrent.futures.Future[object], future: pykka.Future[Any] | None) -> None:
        if finished.cancelled():
            _fail(future, BusError("the bus stopped before this operation finished"))
            return
        error = finished.exception()
        if error is None:
            if future is not None:
                future.set(finished.result())
            return
        if not isinstance(error, BusError):
            # a bug in a handler must surface: log it, and fail the caller's future rather
            # than leave it hanging
            log.error("bus operation failed", exc_info=(type(error), error, error.__traceback__))
            error = BusError(f"bus operation failed: {type(error).__name__}: {error}")
        _fail(future, error)

    # -- loop thread -------------------------------------------------------------------

    def _report_stats(self, future: pykka.Future[Any] | None) -> None:
        if future is None:
            return
        errors = self._connection.errors + self._pubsub.errors + self._jetstream.errors
        future.set(BusStats(
            self._connection.state.state, self._pubsub.published, self._pubsub.refused + self._outbox.refused,
            self._pubsub.delivered + self._jetstream.delivered, self._connection.reconnects,
            self._jetstream.retries, dict(errors), self._connection.state.server))

    async def _close(self) -> None:
        self._connection.closing = True
        self._subscriptions.cancel_tasks()
        if self._connection.is_connected:
            try:
                await asyncio.wait_for(self._pubsub.drained(), timeout=CLOSE_DRAIN_TIMEOUT)
                await self._connection.flush(CLOSE_FLUSH_TIMEOUT)
            except (asyncio.TimeoutError, BusError) as error:
                log.info("bus closed with publishes not confirmed by the server", extra={"error": str(error)})
        await self._connection.close()
        # what still waits (a first connection that never came, requests waiting for it):
        # cancel it so the loop stops with nothing pending
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


__all__ = ["BusActor", "Outbox", "cancel_leftover_tasks"]
