"""What the master refuses to do for a client, and the count of each refusal.

The master publishes with `>` rights, so a reply subject a requester chose is a way to make
the master publish anywhere (a confused deputy). It answers only into the inbox of the
identity the request is bound to: `_INBOX_<public key>.…`. Everything dropped is counted
per reason (`SecurityCounters.counts()`, logged at 1, 10, 100... of each reason: a flood
must not flood the log).

    counters = SecurityCounters()
    if reply_allowed(message.reply, key, counters, "enrol"):
        bus.publish(message.reply, answer)
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING

from partout import subjects

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)


class SecurityCounters:
    """Thread-safe counts of refused or dropped requests, per reason (`enrol.foreign-reply`...)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, reason: str, **details: object) -> int:
        with self._lock:
            self._counts[reason] += 1
            total = self._counts[reason]
        if _is_power_of_ten(total):
            log.warning("request dropped", extra={"reason": reason, "so_far": total, **details})
        return total

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __getitem__(self, reason: str) -> int:
        with self._lock:
            return self._counts[reason]


def _is_power_of_ten(number: int) -> bool:
    while number >= 10 and number % 10 == 0:
        number //= 10
    return number == 1


def reply_allowed(reply: str, owners: str | frozenset[str], counters: SecurityCounters, what: str) -> bool:
    """True when `reply` is in the inbox of `owners` (one identity, or any of a set); else the
    request is counted as `<what>.foreign-reply` (or `<what>.no-reply`) and must get no answer."""
    if not reply:
        counters.count(f"{what}.no-reply")
        return False
    owner = subjects.inbox_owner(reply)
    allowed = owner is not None and (owner == owners if isinstance(owners, str) else owner in owners)
    if not allowed:
        counters.count(f"{what}.foreign-reply", reply=reply[:200])
    return allowed


class NonceCache:
    """Nonces of signed requests seen within their validity window: a second use is a replay.

    Entries expire after `window` seconds past the request's own timestamp window; at most
    `capacity` are kept (the oldest go first), which only operator keys can fill."""

    def __init__(self, window: float, capacity: int = 100_000) -> None:
        self._window = window
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, key: str, nonce: str, *, now: float | None = None) -> bool:
        """Remember `nonce` for `key`; False if it was already used within the window."""
        now = time.time() if now is None else now
        entry = f"{key}:{nonce}"
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if entry in self._seen:
                return False
            # a request is valid up to `window` after its timestamp, which may itself be
            # `window` ahead of ours: remember it that long
            self._seen[entry] = now + 2 * self._window
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True


class SharedNonces:
    """Nonces remembered by every master of a group: each first use is also created in the
    nonce KV bucket (compare-and-set "create"), so a request answered by one master is a
    replay for all the others. The local cache answers repeats without a round trip.

        nonces = SharedNonces(bus, NonceCache(SIGNATURE_MAX_AGE))
        nonces.first_use(key, nonce)   # True, False (a replay), or BusError (bucket unreachable)
    """

    def __init__(self, bus: Bus, local: NonceCache, *, timeout: float = 5.0) -> None:
        self._bus = bus
        self._local = local
        self._timeout = timeout

    def first_use(self, key: str, nonce: str) -> bool:
        from partout.errors import KeyValueConflict

        if not self._local.first_use(key, nonce):
            return False
        # the nonce is the requester's text: hashed into a safe KV key token
        entry = f"{key}.{hashlib.sha256(nonce.encode()).hexdigest()}"
        try:
            self._bus.kv_put(subjects.NONCE_BUCKET, entry, b"1", last_revision=0).get(timeout=self._timeout)
        except KeyValueConflict:
            return False
        return True


__all__ = ["NonceCache", "SecurityCounters", "SharedNonces", "reply_allowed"]
