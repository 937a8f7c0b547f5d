"""Publishing a compiled policy again after the bus refused it (the policy bucket's node is
down, no quorum, a leader election, the master reconnecting), with backoff, until it lands.

    retries = PublishRetries(publisher.actor_ref)
    retries.failed("production", error)   # logs, and tells RetryPublish in 1, 2, 4 ... 30 s
    retries.due(message)                  # on RetryPublish: still the latest failure? then rebuild
    retries.landed("production")          # after a successful publish (or a newer one)

A failure here is the bus's, not the policy's: it is logged as such, never recorded as a
compile error. Each retry compiles the environment's current files again, so a change made
in between is what lands. Belongs to the publisher actor (one thread): no locks, no timers
to cancel, a superseded RetryPublish is just ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pykka

from partout.master.supervisor import tell_later
from partout.retry import Backoff

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 30.0


@dataclass(frozen=True)
class RetryPublish:
    """Told to the publisher when the wait after failure number `attempt` is over."""

    environment: str
    attempt: int


class PublishRetries:
    def __init__(self, publisher: pykka.ActorRef[Any], *, first_delay: float = FIRST_DELAY,
                 max_delay: float = MAX_DELAY) -> None:
        self._publisher = publisher
        # no jitter: one master retries one bucket; the log says the exact wait
        self._backoff = Backoff(first=first_delay, limit=max_delay, jitter=0)

    def failed(self, environment: str, error: BaseException) -> float:
        """Schedule the next attempt for `environment`; its delay in seconds."""
        reason = f"{type(error).__name__}: {error}".strip().rstrip(":")
        delay = self._backoff.next(environment)
        attempt = self._backoff.attempts(environment)
        tell_later(delay, self._publisher, RetryPublish(environment, attempt))
        log.warning("policy publish for env %s failed: %s; retrying in %g s", environment, reason, delay,
                    extra={"environment": environment, "attempt": attempt, "retry_in": delay})
        return delay

    def due(self, retry: RetryPublish) -> bool:
        """True when `retry` is for the latest failure of its environment (not landed since)."""
        return self._backoff.attempts(retry.environment) == retry.attempt

    def landed(self, environment: str) -> None:
        """A publish (or a check that nothing needed publishing) went through."""
        failures = self._backoff.attempts(environment)
        self._backoff.reset(environment)
        if failures:
            log.info("policy publish for env %s went through after %d failed attempts", environment, failures,
                     extra={"environment": environment, "failed_attempts": failures})


__all__ = ["PublishRetries", "RetryPublish"]
