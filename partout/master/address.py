"""`Address`: how the master's actors, its bus subscriptions and the Master reach a child
actor whatever incarnation of it is running.

    address = Address()
    bus.subscribe(subjects.AGENT_FACTS_ALL, address)     # a Target: called on the bus loop
    address.attach(ref)          # the supervisor, once the child started: queued messages go to it
    address.detach()             # it crashed: messages wait (up to `limit`) for the next one

Thread-safe: the bus loop, timers and actors tell it, the supervisor attaches and detaches.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

import pykka

log = logging.getLogger(__name__)

MAX_WAITING = 10_000  # messages kept while the child restarts; beyond it the oldest go


class Address:
    def __init__(self, limit: int = MAX_WAITING) -> None:
        self._lock = threading.Lock()
        self._ref: pykka.ActorRef[Any] | None = None
        self._waiting: collections.deque[object] = collections.deque(maxlen=limit)
        self.dropped = 0  # waiting messages pushed out by newer ones

    def __call__(self, message: object) -> None:
        """The bus's Target protocol: a delivered message."""
        self.tell(message)

    def tell(self, message: object) -> None:
        with self._lock:
            if self._ref is not None:
                try:
                    self._ref.tell(message)
                    return
                except pykka.ActorDeadError:
                    self._ref = None  # crashed; the supervisor will attach the next one
            if len(self._waiting) == self._waiting.maxlen:
                self.dropped += 1
            self._waiting.append(message)

    def attach(self, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._ref = ref
            while self._waiting:
                ref.tell(self._waiting.popleft())

    def detach(self, ref: pykka.ActorRef[Any] | None = None) -> None:
        """Keep messages for the next incarnation (only if `ref`, when given, is the current one)."""
        with self._lock:
            if ref is None or self._ref == ref:
                self._ref = None

    @property
    def ref(self) -> pykka.ActorRef[Any] | None:
        """The incarnation running now (None while it restarts)."""
        with self._lock:
            return self._ref


__all__ = ["Address"]
