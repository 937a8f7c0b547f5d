"""Disconnect a revoked agent's live connections through the server's system API.

The master has a second connection placed in the SYS account by its own auth callout
(connection name SYSTEM_CONNECTION, master key). From it, `$SYS.REQ.SERVER.PING.CONNZ`
filtered by authorized user (with auth callout that is the `name` of the user JWT the
callout issued: the agent id of an approved agent, the public key of a pending one) finds the
connection ids on every server of the cluster, and `$SYS.REQ.SERVER.<id>.KICK` closes
them. The agent reconnects, the callout refuses it as revoked, and that is the end of it.
Should the kick fail, the agent keeps its connection until it drops; MasterConfig.agent_credentials_ttl
bounds that (its credentials expire and the server closes the connection).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

CONNZ = "$SYS.REQ.SERVER.PING.CONNZ"


def kick_subject(server_id: str) -> str:
    return f"$SYS.REQ.SERVER.{server_id}.KICK"


class Kicker:
    """Uses a Bus connected with the master key under the SYSTEM_CONNECTION name."""

    def __init__(self, system_bus: Any, *, account: str = "PARTOUT", gather: float = 0.3) -> None:
        self._bus = system_bus
        self._account = account
        self._gather = gather

    def connections(self, user: str) -> list[tuple[str, int]]:
        """(server id, client id) of every connection whose authorized user is `user`."""
        replies: list[bytes] = []
        lock = threading.Lock()

        def collect(message: Any) -> None:
            with lock:
                replies.append(message.data)

        inbox = f"_INBOX.{uuid.uuid4().hex}"
        subscription = self._bus.subscribe(inbox, collect).get(timeout=5)
        try:
            query = {"acc": self._account, "auth": True, "user": user, "limit": 1024}
            self._bus.publish(CONNZ, json.dumps(query).encode(), reply=inbox)
            # every server of the cluster answers; there is no count to wait for
            time.sleep(self._gather)
        finally:
            self._bus.unsubscribe(subscription)
        found: list[tuple[str, int]] = []
        with lock:
            answers = list(replies)
        for raw in answers:
            try:
                answer = json.loads(raw)
                server_id = answer["server"]["id"]
                for connection in (answer.get("data") or {}).get("connections") or []:
                    if connection.get("authorized_user") == user:
                        found.append((server_id, int(connection["cid"])))
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable CONNZ answer")
        return found

    def kick(self, *users: str) -> int:
        """Close every live connection authorized as one of `users`; how many were closed."""
        closed = 0
        found = {connection for user in users if user for connection in self.connections(user)}
        for server_id, client_id in sorted(found):
            try:
                self._bus.request(kick_subject(server_id), json.dumps({"cid": client_id}).encode(),
                                  timeout=2).get(timeout=5)
                closed += 1
            except Exception as error:
                log.warning("kick failed", extra={"server": server_id, "cid": client_id, "error": str(error)})
        log.info("connections closed", extra={"users": list(users), "closed": closed})
        return closed
