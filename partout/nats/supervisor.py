"""Keep every node of a backbone running: a nats-server that exits is logged and started
again, with backoff, while the other nodes go on serving (a 3-node cluster keeps its
JetStream quorum with two).

    supervisor = Supervisor(backbone)
    exit_code = supervisor.run(stopping)      # until `stopping` is set: 0; every node lost: 1

A node that fails right after starting (it exits within `stable_after` seconds, or cannot
start at all: port taken, bad config) `give_up_after` times in a row is given up, logged;
the others keep running. A node that ran for `stable_after` seconds starts its count afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from partout.errors import BusError
from partout.nats.launcher import Backbone, Node
from partout.retry import Backoff

log = logging.getLogger(__name__)


@dataclass
class _Watch:
    """What the supervisor knows of one node."""

    node: Node
    started_at: float
    restart_at: float | None = None
    given_up: bool = False


class Supervisor:
    def __init__(self, backbone: Backbone, *, first_delay: float = 0.5, max_delay: float = 30.0,
                 stable_after: float = 30.0, give_up_after: int = 10) -> None:
        self._backbone = backbone
        # per node: consecutive failures right after a start, and the wait before the next
        # start (exact: one supervisor, nothing to spread out)
        self._failures = Backoff(first=first_delay, limit=max_delay, jitter=0)
        self._stable_after = stable_after
        self._give_up_after = give_up_after
        now = time.monotonic()
        self._watches = [_Watch(node, now) for node in backbone.nodes]
        self.restarts = 0

    def run(self, stopping: threading.Event, poll: float = 0.2) -> int:
        """Watch the nodes until `stopping` is set (stop them all, 0) or none is left (1)."""
        try:
            while not stopping.wait(poll):
                for watch in self._watches:
                    self._check(watch)
                if all(watch.given_up for watch in self._watches):
                    log.error("every nats-server node was given up; stopping")
                    return 1
            return 0
        finally:
            self._backbone.stop()

    def _check(self, watch: _Watch) -> None:
        if watch.given_up:
            return
        now = time.monotonic()
        if watch.node.running:
            if now - watch.started_at >= self._stable_after:
                self._failures.reset(watch.node.config.name)
            return
        if watch.restart_at is None:
            code = watch.node.process.returncode if watch.node.process is not None else None
            self._failed(watch, now, f"exited with code {code}")
        elif now >= watch.restart_at:
            self._restart(watch)

    def _failed(self, watch: _Watch, now: float, what: str) -> None:
        name = watch.node.config.name
        if now - watch.started_at >= self._stable_after:
            self._failures.reset(name)  # it ran well before this exit: count afresh
        delay = self._failures.next(name)
        failures = self._failures.attempts(name)
        if failures > self._give_up_after:
            watch.given_up = True
            watch.node.kill()
            log.error("nats-server %s %s; it failed %d times in a row right after starting: giving up on it, "
                      "the other nodes keep serving", name, what, failures,
                      extra={"node": name, "failures": failures})
            return
        watch.restart_at = now + delay
        log.error("nats-server %s %s; restarting it in %g s (the other nodes keep serving)", name, what, delay,
                  extra={"node": name, "attempt": failures, "restart_in": delay})

    def _restart(self, watch: _Watch) -> None:
        watch.restart_at = None
        watch.started_at = time.monotonic()
        try:
            watch.node.start()
        except BusError as error:
            self._failed(watch, watch.started_at, f"did not start ({error})")
            return
        self.restarts += 1
        pid = watch.node.process.pid if watch.node.process is not None else None
        log.info("nats-server %s restarted", watch.node.config.name, extra={"node": watch.node.config.name,
                                                                             "pid": pid})
