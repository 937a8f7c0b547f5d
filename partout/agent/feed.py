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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from partout import subjects
from partout.errors import BusError

log = logging.getLogger(__name__)

STREAM = f"KV_{subjects.POLICY_BUCKET}"


@dataclass(frozen=True)
class PolicyValue:
    """One value of the policy key, as KeyValueChange would carry it."""

    key: str
    value: bytes | None
    revision: int
    operation: str = "put"


def _operation(headers: Any) -> str:
    marker = (headers or {}).get("KV-Operation", "")
    return {"DEL": "delete", "PURGE": "purge"}.get(str(marker), "put")


def _revision(headers: Any) -> int:
    try:
        return int((headers or {}).get("Nats-Sequence", 0))
    except (TypeError, ValueError):
        return 0


class PolicyFeed:
    """Delivers PolicyValue for `environment` to `target` until stopped."""

    def __init__(self, bus: Any, agent_id: str, environment: str, target: Callable[[PolicyValue], None]) -> None:
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
        headers = reply.headers or {}
        status = str(headers.get("Status", ""))
        if status == "404":
            self.pending = 0
            return
        if status:
            raise BusError(f"cannot read the policy of environment {self._environment!r}: "
                           f"status {status} {headers.get('Description', '')}".strip())
        self.pending = 1
        self._deliver_value(reply.data, headers)

    def stop(self) -> None:
        if self._subscription is not None:
            self._bus.unsubscribe(self._subscription)
            self._subscription = None

    def _deliver(self, message: Any) -> None:
        headers = message.headers or {}
        if (headers.get("Nats-Stream") != STREAM
                or headers.get("Nats-Subject") != subjects.policy_kv_subject(self._environment)):
            self.dropped += 1
            if self.dropped == 1:
                log.warning("policy update without the policy stream's headers dropped",
                            extra={"agent_id": self._agent_id, "environment": self._environment})
            return
        self._deliver_value(message.data, headers)

    def _deliver_value(self, data: bytes, headers: Any) -> None:
        self._target(PolicyValue(subjects.policy_key(self._environment), data, _revision(headers),
                                 _operation(headers)))


__all__ = ["PolicyFeed", "PolicyValue"]
