"""Publishing a compiled policy again after the bus refused it (the policy bucket's node is
down, no quorum, a leader election, the master reconnecting), with backoff, until it lands.

    retries = PublishRetries(lambda environment: publisher.tell(Rebuild(frozenset({environment}))))
    retries.failed("production", error)   # logs, and asks again in 1, 2, 4 ... 30 s
    retries.landed("production")          # after a successful publish (or a newer one)

A failure here is the bus's, not the policy's: it is logged as such, never recorded as a
compile error. Each retry compiles the environment's current files again, so a change made
in between is what lands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 30.0


class PublishRetries:
    """One pending timer per environment; thread-safe (timers fire on their own threads)."""

    def __init__(self, resend: Callable[[str], None], *, first_delay: float = FIRST_DELAY,
                 max_delay: float = MAX_DELAY) -> None:
        self._resend = resend
        self._first = first_delay
        self._max = max_delay
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._closed = False

    def pending(self) -> frozenset[str]:
        """Environments waiting for a retry."""
        with self._lock:
            return frozenset(self._failures)

    def failed(self, environment: str, error: BaseException) -> float:
        """Schedule the next attempt for `environment`; its delay in seconds."""
        reason = f"{type(error).__name__}: {error}".strip().rstrip(":")
        with self._lock:
            failures = self._failures.get(environment, 0) + 1
            self._failures[environment] = failures
            delay = min(self._max, self._first * 2.0 ** (failures - 1))
            self._cancel(environment)
            if self._closed:
                return delay
            timer = threading.Timer(delay, self._fire, args=(environment,))
            timer.daemon = True
            self._timers[environment] = timer
            timer.start()
        log.warning("policy publish for env %s failed: %s; retrying in %g s", environment, reason, delay,
                    extra={"environment": environment, "attempt": failures, "retry_in": delay})
        return delay

    def landed(self, environment: str) -> None:
        """A publish (or a check that nothing needed publishing) went through."""
        with self._lock:
            failures = self._failures.pop(environment, 0)
            self._cancel(environment)
        if failures:
            log.info("policy publish for env %s went through after %d failed attempts", environment, failures,
                     extra={"environment": environment, "failed_attempts": failures})

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for environment in list(self._timers):
                self._cancel(environment)

    def _cancel(self, environment: str) -> None:
        timer = self._timers.pop(environment, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, environment: str) -> None:
        with self._lock:
            self._timers.pop(environment, None)
            if self._closed:
                return
        try:
            self._resend(environment)
        except Exception:  # the publisher stopped in between: nothing to retry for
            log.debug("policy publish retry dropped", extra={"environment": environment})
