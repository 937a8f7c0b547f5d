"""Token buckets: how many requests per key, and in all, the master handles per second.

    limits = RequestLimits(per_key=TokenBucketSpec(rate=2, burst=5), overall=TokenBucketSpec(rate=200, burst=400))
    if limits.admit(public_key) is None:
        handle(request)       # else the reason it was turned away: "key" or "overall"

A key's bucket is checked first: one flooding key spends only its own budget, never the
shared one that real agents need.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenBucketSpec:
    rate: float  # tokens added per second
    burst: float  # the most tokens a bucket holds


class TokenBucket:
    def __init__(self, spec: TokenBucketSpec, now: float) -> None:
        self._spec = spec
        self._tokens = spec.burst
        self._at = now

    def take(self, now: float) -> bool:
        self._tokens = min(self._spec.burst, self._tokens + (now - self._at) * self._spec.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class RequestLimits:
    """A bucket per key (the least recently used forgotten past `max_keys`) and one overall."""

    def __init__(self, per_key: TokenBucketSpec, overall: TokenBucketSpec, *, max_keys: int = 100_000) -> None:
        self._per_key = per_key
        self._overall = TokenBucket(overall, time.monotonic())
        self._keys: OrderedDict[str, TokenBucket] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def admit(self, key: str) -> str | None:
        """None when a request of `key` may go on now, else which limit it hit: "key" or "overall"."""
        now = time.monotonic()
        with self._lock:
            bucket = self._keys.get(key)
            if bucket is None:
                bucket = self._keys[key] = TokenBucket(self._per_key, now)
                if len(self._keys) > self._max_keys:
                    self._keys.popitem(last=False)
            else:
                self._keys.move_to_end(key)
            if not bucket.take(now):
                return "key"
            if not self._overall.take(now):
                return "overall"
            return None


__all__ = ["RequestLimits", "TokenBucket", "TokenBucketSpec"]
