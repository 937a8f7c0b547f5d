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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from partout import subjects
from partout.agent.config import AgentConfig
from partout.agent.credentials import Credentials
from partout.agent.enrolment import (
    ConnectionLost, ConnectionWaiter, EnrolmentRefused, EnrolmentTimeout, Stopped, enrol_agent, stop_quietly,
)
from partout.agent.feed import PolicyFeed, PolicyValue
from partout.agent.facts import facts_hash, facts_payload, load_facts
from partout.agent.outbox import ACK_TIMEOUT, ReportOutbox
from partout.agent.policy import PolicyCache, PolicyRefused
from partout.agent.reports import BUNDLE_RESULT, COMPILE_RESULT, policy_failure, wrap
from partout.errors import PolicyError, StateError
from partout.report import Report
from partout.wire import decode, encode
from partout.wire.fleet import Control, FactsUpdate, RunReport

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
ACK_POLL, IDLE_POLL = 1.0, 60.0
RECONNECT_AFTER_FAILURES = 3
RECONNECT_FIRST_PAUSE, RECONNECT_MAX_PAUSE = 1.0, 30.0


@dataclass(frozen=True)
class _Event:
    kind: str  # policy, apply, drift, reconnected, stop
    payload: Any = None


class Agent:
    """One agent identity with its own state dir, connection and engine."""

    def __init__(self, config: AgentConfig, *, on_report: Callable[[RunReport], None] | None = None,
                 on_policy: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.on_report = on_report
        self.on_policy = on_policy  # told the KV revision of each policy value as it arrives (benches)
        self.state = "created"  # pending, running, refused, failed, stopped
        self.error: str | None = None
        self.applied_sequence = 0
        self._credentials: Credentials | None = None
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._bus: Any = None
        self._engine: Any = None
        self._policies: PolicyCache | None = None
        self._facts: Any = None
        self._sent_facts_hash = ""
        self._digest = ""
        self._outbox = ReportOutbox(lambda: self._bus)
        self._feed: PolicyFeed | None = None

    # -- public ----------------------------------------------------------------------

    @property
    def agent_id(self) -> str | None:
        return self._credentials.agent_id if self._credentials else None

    @property
    def environment(self) -> str | None:
        return self._credentials.environment if self._credentials else None

    @property
    def public_key(self) -> str:
        return self._load_credentials().public_key

    def start(self) -> None:
        """Check the state dir and identity (raises StateError), then run in the background."""
        self._load_credentials()
        self._thread = threading.Thread(target=self._main, name="partout-agent", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop watching and applying, flush reports, close the connection."""
        self._stopping.set()
        self._events.put(_Event("stop"))
        if self._thread is not None:
            self._thread.join(timeout)

    def connection_state(self) -> str:
        """connected, disconnected, reconnected, closed, or "none" before the agent connects."""
        bus = self._bus
        if bus is None:
            return "none"
        try:
            return str(bus.stats().get(timeout=5).state)
        except Exception:
            return "none"

    def apply_now(self) -> None:
        self._events.put(_Event("apply", "control"))

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
            attempt = 0
            while True:
                try:
                    ConnectionWaiter(self._bus).wait(self._stopping, deadline)
                    break
                except ConnectionLost:
                    attempt += 1
                    self._reopen(attempt)
            return self._apply_once()
        finally:
            self._shutdown()

    # -- lifecycle -----------------------------------------------------------------------

    def _load_credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials.load(self.config.state_dir)
            self.applied_sequence = 0
        return self._credentials

    def _main(self) -> None:
        try:
            self._enrol_if_needed(None)
            self._connect()
            self._follow()
        except Stopped:
            pass
        except EnrolmentRefused as error:
            self.state, self.error = "refused", str(error)
            log.error("agent refused", extra={"reason": str(error)})
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
                            pause=self._pause_before_reconnect)
        if not reply.agent_id or not reply.environment:
            raise EnrolmentRefused("the master approved us without an agent id or environment")
        credentials.approve(reply.agent_id, reply.environment, reply.master_public_key,
                            given_key=self.config.master_key)
        log.info("agent approved", extra={"agent_id": reply.agent_id, "environment": reply.environment})

    def _open_bus(self) -> Any:
        from partout.nats.client import Bus
        from partout.nats.messages import BusOptions

        credentials = self._load_credentials()
        assert credentials.agent_id is not None
        return Bus.start(BusOptions(servers=self.config.servers, name=f"partout-agent-{credentials.agent_id}",
                                    seed_file=credentials.seed_path,
                                    inbox_prefix=subjects.inbox_prefix(credentials.agent_id)))

    def _connect(self) -> None:
        from partout.engine import Engine

        self._bus = self._open_bus()
        self._policies = PolicyCache(self.config.state_dir, keep=self.config.keep_policies)
        self._engine = Engine(self.config.state_dir, self._facts)

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
                event = self._events.get(timeout=max(0.0, min(due - time.monotonic(), wait)))
            except queue.Empty:
                self._outbox.check()
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
                case "reconnected" if event.payload is self._bus:
                    self._start_feed()
                    self._publish_facts(force=True)
                case "closed" if event.payload is self._bus:
                    self._reopen(1)
                    self._subscribe()
                    self._publish_facts(force=True)
            self._outbox.check()

    def _pause_before_reconnect(self, attempt: int) -> None:
        pause = min(RECONNECT_MAX_PAUSE, RECONNECT_FIRST_PAUSE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        log.warning("NATS connection closed, connecting again", extra={"agent_id": self.agent_id, "pause": pause})
        if self._stopping.wait(pause):
            raise Stopped("agent stopped")

    def _reopen(self, attempt: int) -> None:
        """Replace a closed (or useless) connection with a new one."""
        self._pause_before_reconnect(attempt)
        old, self._bus = self._bus, self._open_bus()
        stop_quietly(old)

    def _subscribe(self) -> None:
        """Wait for the connection, then follow the control subject and the policy key."""
        credentials = self._load_credentials()
        assert credentials.agent_id is not None and credentials.environment is not None
        attempt = 0
        while True:
            try:
                ConnectionWaiter(self._bus).wait(self._stopping, None)
                break
            except ConnectionLost:
                attempt += 1
                self._reopen(attempt)
        bus = self._bus
        bus.watch_connection(lambda state: self._on_connection(bus, state))
        bus.subscribe(subjects.agent_control(credentials.agent_id), self._on_control)
        self._feed = PolicyFeed(bus, credentials.agent_id, credentials.environment, self._on_policy_value)
        self._start_feed()

    def _start_feed(self) -> None:
        """Follow the policy key; on failure (no connection yet, JetStream busy) try again later.
        After a few failures, connect anew: the server re-asks the master's auth callout, so a
        connection let in with the wrong permissions (e.g. while the master was overloaded)
        does not stay stuck."""
        assert self._feed is not None
        failures = 0
        while not self._stopping.is_set():
            try:
                self._feed.start()
                return
            except Exception as error:
                failures += 1
                log.warning("cannot follow the policy yet, retrying",
                            extra={"agent_id": self.agent_id, "error": f"{type(error).__name__}: {error}"})
                if failures >= RECONNECT_AFTER_FAILURES:
                    self._reopen(1)
                    self._subscribe()
                    return
                self._stopping.wait(1.0)
        raise Stopped("agent stopped")

    def _next_due(self) -> float:
        interval = self.config.interval
        return time.monotonic() + interval * (1 + random.uniform(0, self.config.splay))

    def _on_policy_value(self, value: PolicyValue) -> None:
        if self.on_policy is not None:
            self.on_policy(value.revision)
        self._events.put(_Event("policy", value))

    def _on_connection(self, bus: Any, state: Any) -> None:
        if bus is not self._bus:
            return  # a connection already replaced (its "closed" is ours)
        if state.state == "reconnected":
            self._events.put(_Event("reconnected", bus))
        elif state.state == "closed" and not self._stopping.is_set():
            self._events.put(_Event("closed", bus))

    def _on_control(self, message: Any) -> None:
        control = decode(Control, message.data)
        if control is not None and control.command == "apply":
            self._events.put(_Event("apply", "control"))

    # -- policy and runs -------------------------------------------------------------------

    def _on_policy(self, change: Any) -> int | None:
        """Accept a new bundle and apply it; the exit code a one-shot run would return."""
        if change.operation != "put" or not change.value:
            log.warning("policy deleted on the master; keeping the policy in force")
            return None
        credentials = self._load_credentials()
        assert self._policies is not None and credentials.environment and credentials.master_public_key
        try:
            accepted = self._policies.accept(change.value, master_public_key=credentials.master_public_key,
                                             environment=credentials.environment,
                                             last_sequence=credentials.last_sequence,
                                             last_digest=credentials.last_digest)
            if not accepted.already_applied:
                credentials.record_bundle(accepted.sequence, accepted.digest)
        except (PolicyRefused, StateError) as refusal:
            log.warning("policy bundle refused; the last good policy stays in force",
                        extra={"reason": str(refusal)})
            self._send(policy_failure(BUNDLE_RESULT, str(refusal), policy=credentials.environment,
                                      hostname=self._hostname(), trigger="policy"))
            return EXIT_REFUSED
        self._digest = accepted.digest
        if accepted.sequence == self.applied_sequence and self.state == "running":
            return None  # a redelivery of what is already in force
        self.applied_sequence = accepted.sequence
        return self._apply("run")

    def _apply(self, trigger: str) -> int:
        from partout.dsl.compiler import compile_policy

        assert self._policies is not None and self._engine is not None
        current = self._policies.current()
        if current is None:
            log.info("no policy yet; waiting for the master to publish one")
            return EXIT_REFUSED
        self._refresh_facts()
        try:
            catalog = compile_policy(current / "site.p2", self._facts)
        except PolicyError as error:
            log.error("policy does not compile here", extra={"error": str(error)})
            self._send(policy_failure(COMPILE_RESULT, str(error), policy=str(current / "site.p2"),
                                      hostname=self._hostname(), trigger=trigger))
            return EXIT_REFUSED
        self._engine.facts = self._facts
        report = self._engine.run(catalog, trigger=trigger)
        if self.config.watch and self.state == "running":
            self._engine.watch(catalog, lambda drift: self._events.put(_Event("drift", drift)))
        self._send(report)
        return EXIT_FAILED if report.failed else EXIT_OK

    def _apply_once(self) -> int:
        credentials = self._load_credentials()
        assert credentials.environment is not None
        assert credentials.agent_id is not None
        values: queue.SimpleQueue[PolicyValue] = queue.SimpleQueue()
        feed = PolicyFeed(self._bus, credentials.agent_id, credentials.environment, values.put)
        feed.start(timeout=ACK_TIMEOUT)
        try:
            entry = values.get(timeout=ACK_TIMEOUT) if feed.pending else None
        except queue.Empty:
            entry = None
        finally:
            feed.stop()
        if entry is None:
            # a PolicyError: the CLI exits 2, "no usable policy", like a refused or broken one
            raise PolicyError(f"no policy published yet for environment {credentials.environment!r}; "
                              f"put a site.p2 in that environment's folder on the master")
        self.applied_sequence = -1  # always run: that is what --once is for
        code = self._on_policy(entry)
        if code is None:
            code = self._apply("run")
        self._outbox.wait(ACK_TIMEOUT)
        return code

    # -- facts and reports --------------------------------------------------------------

    def _hostname(self) -> str:
        return str(getattr(self._facts, "hostname", "") or "")

    def _refresh_facts(self) -> None:
        if self.config.facts is None:  # gathered (or read from the facts file) again each run
            self._facts = load_facts(self.config)
        self._publish_facts(force=False)

    def _publish_facts(self, *, force: bool) -> None:
        credentials = self._load_credentials()
        if self._bus is None or credentials.agent_id is None:
            return
        payload = facts_payload(self._facts)
        digest = facts_hash(payload)
        if not force and digest == self._sent_facts_hash:
            return
        update = FactsUpdate(agent_id=credentials.agent_id, facts=payload, facts_hash=digest)
        self._bus.publish(subjects.agent_facts(credentials.agent_id), encode(update))
        self._sent_facts_hash = digest

    def _send(self, report: Report) -> None:
        credentials = self._load_credentials()
        assert credentials.agent_id is not None and credentials.environment is not None
        run_report = wrap(report, agent_id=credentials.agent_id, environment=credentials.environment,
                          sequence=self.applied_sequence if self.applied_sequence > 0 else credentials.last_sequence,
                          digest=self._digest)
        self._outbox.send(run_report)
        if self.on_report is not None:
            try:
                self.on_report(run_report)
            except Exception:
                log.exception("on_report callback failed")


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "Agent", "EnrolmentRefused", "EnrolmentTimeout"]
