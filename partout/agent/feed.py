"""Follow one environment's policy key without a JetStream consumer per agent.

The policy bucket republishes every change of a key to core NATS
(`subjects.policy_updates(environment)`), and allows direct gets that name the key in
the subject. An agent subscribes to its environment's updates first, then reads the
current value with `$JS.API.DIRECT.GET.<stream>.<its key subject>`: nothing published in
between is missed, and both are exactly what its permissions allow (it cannot read other
environments). After a reconnect the current value is read again, in case an update went
by while disconnected; the agent ignores a bundle it already applied, so repeats are
harmless. (A consumer per agent would not scale: the server refuses the 1001st consumer
on a stream.)

An update counts only when the server's republish headers say it is this environment's
key of the policy stream: anyone able to make JetStream publish (a pub-ack or a direct-get
reply sent to a reply subject of their choosing) can put other bytes on the updates
subject, and those are dropped (counted in `dropped`) rather than refused and reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from partout import subjects
from partout.errors import BusError

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.bus.messages import BusMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyValue:
    """One value of the policy key, as KeyValueChange would carry it."""

    key: str
    value: bytes | None
    revision: int
    operation: str = "put"


def _operation(headers: Mapping[str, str]) -> str:
    marker = headers.get("KV-Operation", "")
    return {"DEL": "delete", "PURGE": "purge"}.get(str(marker), "put")


def _revision(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("Nats-Sequence", 0))
    except (TypeError, ValueError):
        return 0


def policy_update(message: BusMessage, environment: str) -> PolicyValue | None:
    """The value a message on the policy updates subject carries, or None when its
    republish headers do not name this environment's key of the policy stream."""
    headers = message.headers or {}
    if subjects.policy_update_environment(headers.get("Nats-Stream", ""), headers.get("Nats-Subject", "")) != environment:
        return None
    return PolicyValue(subjects.policy_key(environment), message.data, _revision(headers), _operation(headers))


def direct_get_value(reply: BusMessage, environment: str) -> PolicyValue | None:
    """The current value from a direct get's reply; None when none is published yet
    (status 404), BusError when the server says something else went wrong."""
    headers = reply.headers or {}
    status = str(headers.get("Status", ""))
    if status == "404":
        return None
    if status:
        raise BusError(f"cannot read the policy of environment {environment!r}: "
                       f"status {status} {headers.get('Description', '')}".strip())
    return PolicyValue(subjects.policy_key(environment), reply.data, _revision(headers), _operation(headers))


def warn_dropped(dropped: int, agent_id: str, environment: str) -> None:
    if dropped == 1:
        log.warning("policy update without the policy stream's headers dropped",
                    extra={"agent_id": agent_id, "environment": environment})


class PolicyFeed:
    """Delivers PolicyValue for `environment` to `target` until stopped, blocking while it
    starts (`partout agent --once`; the daemon's PolicyFeedActor does the same without waiting)."""

    def __init__(self, bus: Bus, agent_id: str, environment: str, target: Callable[[PolicyValue], None]) -> None:
        self._bus = bus
        self._agent_id = agent_id
        self._environment = environment
        self._target = target
        self._subscription: str | None = None
        self.pending = 0  # 1 when a policy was there at start, 0 when none is published yet
        self.dropped = 0  # updates without the policy stream's headers for this key

    def start(self, timeout: float = 10.0) -> None:
        """Subscribe (once) and read the current value; BusError when refused or unanswered."""
        if self._subscription is None:
            self._subscription = self._bus.subscribe(subjects.policy_updates(self._environment),
                                                     self._deliver).get(timeout=timeout)
        self.refresh(timeout)

    def refresh(self, timeout: float = 10.0) -> None:
        """Read the current value now (after a reconnect) and deliver it if there is one."""
        reply = self._bus.request(subjects.policy_direct_get(self._environment), b"",
                                  timeout=timeout).get(timeout=timeout + 5)
        value = direct_get_value(reply, self._environment)
        self.pending = 0 if value is None else 1
        if value is not None:
            self._target(value)

    def stop(self) -> None:
        if self._subscription is not None:
            self._bus.unsubscribe(self._subscription)
            self._subscription = None

    def _deliver(self, message: BusMessage) -> None:
        value = policy_update(message, self._environment)
        if value is None:
            self.dropped += 1
            warn_dropped(self.dropped, self._agent_id, self._environment)
            return
        self._target(value)


__all__ = ["PolicyFeed", "PolicyValue", "direct_get_value", "policy_update"]
