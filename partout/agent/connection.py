"""The agent's NATS connection: open it, wait for it, replace it when closed or useless,
and follow the control subject and the policy key on it. Callbacks run on the BusActor's
thread, so they only put events on the agent's queue."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from partout import subjects
from partout.agent.core import AgentCore, Event
from partout.agent.enrolment import ConnectionLost, ConnectionWaiter, Stopped, stop_quietly
from partout.agent.facts import known_sections
from partout.agent.feed import PolicyFeed, PolicyValue
from partout.wire import decode
from partout.wire.fleet import Control

log = logging.getLogger(__name__)

RECONNECT_AFTER_FAILURES = 3
RECONNECT_FIRST_PAUSE, RECONNECT_MAX_PAUSE = 1.0, 30.0
# credentials are renewed at this share of their lifetime (the agent cannot read their expiry:
# it learns the lifetime from the first one that runs out); shorter lifetimes are not learnt
RENEW_SHARE, MIN_LIFETIME = 0.75, 1.0


class ConnectionMixin(AgentCore):
    """Connection supervision for `Agent`."""

    def connection_state(self) -> str:
        """connected, disconnected, reconnected, closed, refused (NATS refuses our key), or "none"
        before the agent connects."""
        bus = self._bus
        if bus is None:
            return "none"
        try:
            return str(bus.stats().get(timeout=5).state)
        except Exception:
            return "none"

    def _open_bus(self) -> Any:
        from partout.bus.facade import Bus
        from partout.bus.messages import BusOptions

        credentials = self._load_credentials()
        assert credentials.agent_id is not None
        bus = Bus.start(BusOptions(servers=self.config.servers, name=f"partout-agent-{credentials.agent_id}",
                                   seed_file=credentials.seed_path, refused_max_wait=self.config.refused_max_wait,
                                   inbox_prefix=subjects.inbox_prefix(credentials.agent_id)))
        bus.watch_connection(lambda state: self._notices.on_connection(state, self.config.refused_max_wait))
        return bus

    def _wait_connected(self, deadline: float | None) -> None:
        """Wait for the connection, replacing it each time it is lost before it connects."""
        attempt = 0
        while True:
            try:
                ConnectionWaiter(self._bus).wait(self._stopping, deadline)
                return
            except ConnectionLost:
                attempt += 1
                self._reopen(attempt)

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

    def _renew(self, *, expired: bool) -> None:
        """Get fresh NATS credentials (the master's `agent_credentials_ttl`) by connecting
        again, which re-asks the master's auth callout while we are approved: a new
        connection first, subscribed, then the old one goes (before expiry, nothing is missed;
        after it, the server has closed the old one already). Reports in flight on the old
        one are published again by the outbox (same message id, stored once)."""
        now = time.monotonic()
        if expired and self._connected_at is not None and now - self._connected_at > MIN_LIFETIME:
            self._credentials_lifetime = now - self._connected_at  # renew before it next time
        log.info("renewing NATS credentials", extra={"agent_id": self.agent_id, "expired": expired})
        old, self._bus = self._bus, self._open_bus()
        self._subscribe()
        stop_quietly(old)

    def _renew_due(self) -> float | None:
        """When to renew before expiry: a share of the lifetime seen at the last expiry."""
        if self._credentials_lifetime is None or self._connected_at is None:
            return None
        return self._connected_at + RENEW_SHARE * self._credentials_lifetime

    def _subscribe(self) -> None:
        """Wait for the connection, then follow the control subject and the policy key."""
        credentials = self._load_credentials()
        assert credentials.agent_id is not None and credentials.environment is not None
        self._wait_connected(None)
        bus = self._bus
        bus.watch_connection(lambda state: self._on_connection(bus, state))
        bus.subscribe(subjects.agent_control(credentials.agent_id), self._on_control)
        self._feed = PolicyFeed(bus, credentials.agent_id, credentials.environment, self._on_policy_value)
        self._start_feed()
        self._connected_at = time.monotonic()

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

    def _on_policy_value(self, value: PolicyValue) -> None:
        if self.on_policy is not None:
            self.on_policy(value.revision)
        self._events.put(Event("policy", value))

    def _on_connection(self, bus: Any, state: Any) -> None:
        if bus is not self._bus:
            return  # a connection already replaced (its "closed" is ours)
        if state.state == "reconnected":
            self._events.put(Event("reconnected", bus))
        elif state.state == "closed" and not self._stopping.is_set():
            expired = "authentication expired" in state.reason.lower()
            self._events.put(Event("expired" if expired else "closed", bus))

    def _on_control(self, message: Any) -> None:
        control = decode(Control, message.data)
        if control is not None and control.command == "apply":
            self._events.put(Event("apply", "control"))
        elif control is not None and control.command == "facts":
            asked = control.parameters.get("sections")
            sections = known_sections(asked) if isinstance(asked, list) else frozenset()
            if sections:
                self._events.put(Event("facts", sections))
            else:
                log.warning("control 'facts' without known sections ignored", extra={"agent_id": self.agent_id})


__all__ = ["RECONNECT_AFTER_FAILURES", "RENEW_SHARE", "ConnectionMixin"]
