"""Follow one environment's policy key with an ephemeral JetStream consumer made by hand.

nats-py's KV watch also asks for consumer info and reads through STREAM.MSG.GET, which
an agent may not do (it could read other environments' keys). This asks for exactly what
an agent's permissions allow: `$JS.API.CONSUMER.CREATE.<stream>.<name>.<its key subject>`,
delivering the key's last value and every later one into the agent's own inbox. After a
reconnect (a restarted server forgets memory consumers) it is made again; the agent
ignores a bundle it already applied, so the redelivery is harmless.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from partout import subjects
from partout.errors import BusError

log = logging.getLogger(__name__)

INACTIVE_THRESHOLD_NS = 120 * 1_000_000_000
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


def _revision(reply: str) -> int:
    # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
    # (newer servers add domain and account hash tokens in front: count from the end)
    tokens = reply.split(".")
    try:
        return int(tokens[-4]) if len(tokens) >= 9 else 0
    except ValueError:
        return 0


class PolicyFeed:
    """Delivers PolicyValue for `environment` to `target` until stopped."""

    def __init__(self, bus: Any, agent_id: str, environment: str, target: Callable[[PolicyValue], None]) -> None:
        self._bus = bus
        self._agent_id = agent_id
        self._environment = environment
        self._target = target
        self._subscription: str | None = None
        self.pending = 0  # values the consumer had to deliver when made (0: no policy yet)

    def start(self, timeout: float = 10.0) -> None:
        """Make the consumer (and the subscription it delivers to); BusError when refused."""
        if self._subscription is not None:
            try:
                self._bus.unsubscribe(self._subscription).get(timeout=timeout)
            except Exception:  # the old subscription may be gone with the old connection
                pass
            self._subscription = None
        name = f"agent-{self._agent_id}-{secrets.token_hex(4)}"
        deliver = f"{subjects.inbox_prefix(self._agent_id)}.policy.{secrets.token_hex(6)}"
        self._subscription = self._bus.subscribe(deliver, self._deliver).get(timeout=timeout)
        filter_subject = subjects.policy_kv_subject(self._environment)
        request = {
            "stream_name": STREAM,
            "config": {
                "name": name, "deliver_subject": deliver, "deliver_policy": "last_per_subject",
                "ack_policy": "none", "filter_subject": filter_subject, "replay_policy": "instant",
                "inactive_threshold": INACTIVE_THRESHOLD_NS, "mem_storage": True, "num_replicas": 1,
            },
            "action": "create",
        }
        api = f"$JS.API.CONSUMER.CREATE.{STREAM}.{name}.{filter_subject}"
        reply = self._bus.request(api, json.dumps(request).encode(), timeout=timeout).get(timeout=timeout + 5)
        answer = json.loads(reply.data or b"{}")
        if "error" in answer:
            error = answer["error"]
            raise BusError(f"cannot follow the policy of environment {self._environment!r}: "
                           f"{error.get('description', error)}")
        self.pending = int(answer.get("num_pending", 0) or 0)

    def stop(self) -> None:
        if self._subscription is not None:
            self._bus.unsubscribe(self._subscription)
            self._subscription = None

    def _deliver(self, message: Any) -> None:
        if not message.data and (message.headers or {}).get("Status"):
            return  # heartbeat or flow control (not asked for; ignore if a server sends one)
        self._target(PolicyValue(subjects.policy_key(self._environment), message.data,
                                 _revision(message.reply), _operation(message.headers)))


__all__ = ["PolicyFeed", "PolicyValue"]
