"""`Agent`: enrol, follow the environment's policy, apply it, repair drift, report.

    agent = Agent(AgentConfig(servers=(url,), state_dir=path, token="..."))
    agent.start()          # returns at once; enrols and runs on its own thread
    ...
    agent.stop()

    code = Agent(config).run_once(wait=60)   # cron/tests: 0 ok, 1 failed resources, 2 refused

One thread per agent drives everything that changes state (enrolment, policy accept,
runs, publishing) from one queue, so the Engine (not thread-safe) sees one caller. The
BusActor owns the connection; its callbacks only put events on that queue.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time

from partout.agent.connection import ConnectionMixin
from partout.agent.core import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Event
from partout.agent.enrolment import EnrolmentRefused, EnrolmentTimeout, Stopped, enrol_agent, stop_quietly
from partout.agent.facts import load_facts
from partout.agent.policy import PolicyCache
from partout.agent.runner import RunnerMixin

log = logging.getLogger(__name__)

ACK_POLL, IDLE_POLL = 1.0, 60.0


class Agent(ConnectionMixin, RunnerMixin):
    """One agent identity with its own state dir, connection and engine."""

    # -- public ----------------------------------------------------------------------

    def start(self) -> None:
        """Check the state dir and identity (raises StateError), then run in the background."""
        self._load_credentials()
        self._thread = threading.Thread(target=self._main, name="partout-agent", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop watching and applying, flush reports, close the connection."""
        self._stopping.set()
        self._events.put(Event("stop"))
        if self._thread is not None:
            self._thread.join(timeout)

    def apply_now(self) -> None:
        self._events.put(Event("apply", "control"))

    def wait_stopped(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def run_once(self, *, wait: float | None = None) -> int:
        """Enrol (waiting up to `wait` s for approval), apply the policy in force once,
        publish the report; 0 all ok, 1 some resource failed, 2 no usable policy."""
        self._load_credentials()
        deadline = None if wait is None else time.monotonic() + wait
        try:
            self._enrol_if_needed(deadline)
            self._connect()
            self._wait_connected(deadline)
            return self._apply_once()
        finally:
            self._shutdown()

    # -- lifecycle -----------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._enrol_if_needed(None)
            self._connect()
            self._follow()
        except Stopped:
            pass
        except EnrolmentRefused as error:
            self.state, self.error = "refused", str(error)
            log.error("agent stopped: %s", error)
        except Exception as error:
            self.state, self.error = "failed", f"{type(error).__name__}: {error}"
            log.exception("agent failed")
        finally:
            self._shutdown()

    def _enrol_if_needed(self, deadline: float | None) -> None:
        credentials = self._load_credentials()
        self._facts = load_facts(self.config)
        if credentials.agent_id and credentials.master_public_key:
            credentials.confirm_master_key(self.config.master_key)
            return
        self.state = "pending"
        reply = enrol_agent(self.config, credentials, self._facts, stopping=self._stopping, deadline=deadline,
                            pause=self._pause_before_reconnect, notices=self._notices)
        if not reply.agent_id or not reply.environment:
            raise EnrolmentRefused("the master approved us without an agent id or environment")
        credentials.approve(reply.agent_id, reply.environment, reply.master_public_key,
                            given_key=self.config.master_key)
        log.info("agent approved", extra={"agent_id": reply.agent_id, "environment": reply.environment})

    def _connect(self) -> None:
        from partout.engine import Engine

        self._bus = self._open_bus()
        self._policies = PolicyCache(self.config.state_dir, keep=self.config.keep_policies)
        self._engine = Engine(self.config.state_dir, self._facts, facts_d=self.config.facts_d,
                              repair_limit=self.config.repair_limit)

    def _shutdown(self) -> None:
        if self._engine is not None:
            self._engine.stop()
            self._engine = None
        if self._bus is not None:
            self._outbox.wait(5.0)
            stop_quietly(self._bus)
            self._bus = None
        if self.state not in ("refused", "failed"):
            self.state = "stopped"

    # -- the daemon loop -------------------------------------------------------------------

    def _follow(self) -> None:
        credentials = self._load_credentials()
        assert credentials.agent_id is not None and credentials.environment is not None
        self._subscribe()
        self.state = "running"
        self._publish_facts(force=True)
        assert self._policies is not None
        if self._policies.current() is not None:  # the last good policy stays in force while offline
            self.applied_sequence = credentials.last_sequence
            self._digest = credentials.last_digest or ""
            self._apply("start")
        due = self._next_due()
        while True:
            try:
                # wake up each second only while reports await their ack
                wait = ACK_POLL if len(self._outbox) else IDLE_POLL
                renew = self._renew_due()
                wake = due if renew is None else min(due, renew)
                event = self._events.get(timeout=max(0.0, min(wake - time.monotonic(), wait)))
            except queue.Empty:
                self._outbox.check()
                if renew is not None and time.monotonic() >= renew:
                    self._renew(expired=False)
                    self._publish_facts(force=True)
                if time.monotonic() >= due:
                    self._apply("interval")
                    due = self._next_due()
                continue
            match event.kind:
                case "stop":
                    raise Stopped("agent stopped")
                case "policy":
                    self._on_policy(event.payload)
                    due = self._next_due()
                case "apply":
                    self._apply(str(event.payload))
                    due = self._next_due()
                case "drift":
                    self._send(event.payload)
                case "facts":
                    self._on_fact_sections(event.payload)
                case "reconnected" if event.payload is self._bus:
                    self._connected_at = time.monotonic()  # the server checked us again: fresh credentials
                    self._start_feed()
                    self._publish_facts(force=True)
                case "closed" if event.payload is self._bus:
                    self._reopen(1)
                    self._subscribe()
                    self._publish_facts(force=True)
                case "expired" if event.payload is self._bus:
                    self._renew(expired=True)
                    self._publish_facts(force=True)
            self._outbox.check()

    def _next_due(self) -> float:
        interval = self.config.interval
        return time.monotonic() + interval * (1 + random.uniform(0, self.config.splay))


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "Agent", "EnrolmentRefused", "EnrolmentTimeout"]
