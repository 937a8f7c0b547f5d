"""Flap control: how often drift of one resource may be repaired.

Like mgmt's Limit/Burst/Retry: a token bucket lets `burst` repairs through back to back,
then at most `rate` per second. A resource whose burst is spent is "flapping" (another
process is fighting Partout over it): that is reported once, with the rate at which it
is being changed, and from then on each repair waits twice as long as the previous
one, up to `max_delay`. A resource recovers by itself: once no repair was needed for
twice the current delay (and at least as long as the burst takes to refill), the fight
is over and the next drift is repaired at once again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)


class RepairLimit(BaseModel):
    """How often one resource's drift may be repaired under watch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    burst: int = Field(5, ge=1, description="Repairs allowed back to back before the rate applies.")
    rate: float = Field(1.0, gt=0, description="Then at most this many repairs per second.")
    max_delay: float = Field(60.0, gt=0, description="Longest wait between repairs of a flapping resource, "
                             "in seconds (the wait doubles with each repair while the fight goes on).")


@dataclass
class Episode:
    """One fight: since when drift has been heard, how often, and how many repairs."""

    started: float
    heard: int = 0
    repairs: int = 0


class RepairGate:
    """The bucket and the flapping state of one resource (or one batch of resources).
    Not thread-safe: it belongs to one actor. `clock` is injectable so the policy can be
    checked without waiting seconds."""

    def __init__(self, limit: RepairLimit | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit or RepairLimit()
        self._clock = clock
        self._tokens = float(self.limit.burst)
        self._updated = clock()
        self._last_repair: float | None = None
        self._delay = 0.0
        self._episode: Episode | None = None
        self.flapping = False

    def heard(self) -> None:
        """Drift was noticed (an event or a poll), whether or not it is repaired now."""
        now = self._clock()
        if self._episode is None:
            self._episode = Episode(started=now)
        self._episode.heard += 1

    def wait(self) -> float:
        """Seconds until the next repair may run (0: now)."""
        now = self._refill()
        self._recover_if_quiet(now)
        if self.flapping and self._last_repair is not None:
            return max(0.0, self._last_repair + self._delay - now)
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.limit.rate

    def repaired(self, changed: bool) -> str | None:
        """Record a repair attempt; `changed` when it found drift. Returns the one-time
        flapping notice when this repair spent the burst."""
        now = self._refill()
        self._recover_if_quiet(now)
        if not changed:
            if not self.flapping:
                self._episode = None  # between fights: the next one is counted from its start
            return None
        self._tokens = max(0.0, self._tokens - 1)
        self._last_repair = now
        episode = self._episode or Episode(started=now)
        self._episode = episode
        episode.repairs += 1
        if self.flapping:
            self._delay = min(self._delay * 2, self.limit.max_delay)
            return None
        if self._tokens >= 1:
            return None
        self.flapping = True
        self._delay = min(1 / self.limit.rate, self.limit.max_delay)
        elapsed = max(now - episode.started, 1e-3)
        rate = max(episode.heard, episode.repairs) / elapsed
        return (f"flapping: changed {max(episode.heard, episode.repairs)} times in {elapsed:.2f} s "
                f"({rate:.1f}/s) by something else; repairs slowed down (next in {self._delay:.0f} s, "
                f"doubling up to {self.limit.max_delay:.0f} s) until it stops")

    def _recover_if_quiet(self, now: float) -> None:
        if not self.flapping or self._last_repair is None:
            return
        quiet = max(2 * self._delay, self.limit.burst / self.limit.rate)
        if now - self._last_repair >= quiet:
            log.info("resource stopped flapping", extra={"quiet_seconds": round(now - self._last_repair, 3)})
            self.flapping = False
            self._delay = 0.0
            self._episode = None

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.limit.burst), self._tokens + (now - self._updated) * self.limit.rate)
        self._updated = now
        return now
