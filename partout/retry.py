"""The one retry policy: exponential backoff with jitter, capped.

Every loop that tries again (connecting to NATS, enrolling, following the policy,
re-publishing a report, restarting a crashed child actor) asks a `Backoff` how long to
wait and waits in its own way: `stopping.wait(delay)` on a thread, `await
asyncio.sleep(delay)` on the bus loop, `pool.call_later(delay, ...)` in an actor, which
must never block. That is why this is a delay calculator and not a decorator that
sleeps (tenacity, stamina): those own the waiting, which an actor cannot hand over.

    restarts = Backoff(first=0.5, limit=60)
    delay = restarts.next("policy-feed")    # 0.25-0.5, then 0.5-1, 1-2 ... up to 30-60
    restarts.reset("policy-feed")           # it ran fine again: start from `first`

A `Backoff` counts attempts per key (one counter when no key is given). Not
thread-safe: it belongs to one actor, one loop or one thread, like any actor state.

Code on an asyncio loop that retries one operation until a deadline (a JetStream publish
waiting for its ack, creating streams while a cluster elects its leader) uses
`retry_until`, so that loop is written once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

__all__ = ["Backoff", "retry_until"]

T = TypeVar("T")


class Backoff:
    """Attempt n waits `first * factor ** (n - 1)`, at most `limit`, then jitter takes a
    random part of up to `jitter` of it away (so that many agents restarted together do
    not retry in step). `factor=1` gives a fixed pause; `jitter=0` an exact one."""

    def __init__(self, *, first: float, limit: float, factor: float = 2.0, jitter: float = 0.5,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        if first <= 0:
            raise ValueError(f"Backoff first={first!r}: the first delay must be positive")
        if limit < first:
            raise ValueError(f"Backoff limit={limit!r} is below first={first!r}; give a limit >= first")
        if factor < 1:
            raise ValueError(f"Backoff factor={factor!r}: delays may not shrink; give a factor >= 1")
        if not 0 <= jitter <= 1:
            raise ValueError(f"Backoff jitter={jitter!r}: a fraction of the delay, from 0 to 1")
        self.first, self.limit, self.factor, self.jitter = first, limit, factor, jitter
        self._uniform = uniform
        self._attempts: dict[Hashable, int] = {}

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1 for the first retry)."""
        if attempt < 1:
            raise ValueError(f"attempt {attempt!r}: attempts count from 1")
        # exponent capped: past the limit the exact value no longer matters, and a long
        # outage must not overflow a float
        exponent = min(attempt - 1, 64)
        capped = min(self.limit, self.first * self.factor ** exponent)
        if self.jitter == 0:
            return capped
        return capped * self._uniform(1 - self.jitter, 1.0)

    def next(self, key: Hashable = None) -> float:
        """Count one more failure of `key` and return how long to wait before retrying."""
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        return self.delay(attempt)

    def reset(self, key: Hashable = None) -> None:
        """`key` succeeded: its next failure waits `first` again."""
        self._attempts.pop(key, None)

    def attempts(self, key: Hashable = None) -> int:
        """Failures of `key` counted since its last reset."""
        return self._attempts.get(key, 0)


async def retry_until(operation: Callable[[], Awaitable[T]], *, backoff: Backoff, deadline: float,
                      retryable: Callable[[Exception], bool] = lambda error: True,
                      on_retry: Callable[[Exception, float], None] | None = None) -> T:
    """Await `operation()` until it returns; after a failure that is `retryable`, wait what
    `backoff` says (never past `deadline`, a `time.monotonic()` value) and try again. The last
    error is raised once the deadline has passed or an error is not retryable."""
    attempt = 0
    while True:
        try:
            return await operation()
        except Exception as error:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not retryable(error):
                raise
            attempt += 1
            delay = min(backoff.delay(attempt), remaining)
            if on_retry is not None:
                on_retry(error, delay)
            await asyncio.sleep(delay)
