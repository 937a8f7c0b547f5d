"""Disconnect a revoked agent's live connections through the server's system API.

The master has a second connection placed in the SYS account by its own auth callout
(connection name SYSTEM_CONNECTION, master key). From it, `subjects.SERVER_CONNZ` filtered by
authorized user (with auth callout that is the `name` of the user JWT the callout issued: the
agent id of an approved agent, the public key of a pending one) finds the connection ids on
every server of the cluster, and `subjects.server_kick(<id>)` closes them. The agent
reconnects, the callout refuses it as revoked, and that is the end of it. Should the kick
fail, the agent keeps its connection until it drops; MasterConfig.agent_credentials_ttl
bounds that (its credentials expire and the server closes the connection).

    kicker.tell(Kick(("agent-id", "UKEY..."), future))    # future: how many were closed

The KickerActor never waits: every server of the cluster answers CONNZ and there is no count
to wait for, so it gathers answers until a `Gathered` it scheduled for itself arrives, then
sends the KICK requests with its own ref as `reply_to` and counts the RequestReply messages.
One kick at a time; the next waits in a queue.
"""

from __future__ import annotations

import collections
import json
import logging
from dataclasses import dataclass, field

import pykka
from pydantic import BaseModel, ConfigDict, ValidationError

from partout import subjects
from partout.bus.facade import Bus
from partout.bus.messages import BusMessage, Request, RequestReply
from partout.master.supervisor import Child, SupervisedActor, tell_later

log = logging.getLogger(__name__)

GATHER = 0.3  # seconds the servers get to answer CONNZ
KICK_TIMEOUT = 2.0


@dataclass(frozen=True)
class Kick:
    """Close every live connection authorized as one of `users`; `future` gets how many closed."""

    users: tuple[str, ...]
    future: pykka.Future[int]


@dataclass(frozen=True)
class Gathered:
    """Scheduled by the kicker itself: the CONNZ answers to `inbox` are all in."""

    inbox: str


class _Connection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cid: int
    authorized_user: str = ""


class _ConnzData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    connections: list[_Connection] | None = None


class _Server(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str


class ConnzReply(BaseModel):
    """The part of a server's CONNZ answer the kicker reads."""

    model_config = ConfigDict(extra="ignore")

    server: _Server
    data: _ConnzData | None = None


def connections_of(answers: list[bytes], users: tuple[str, ...]) -> list[tuple[str, int]]:
    """(server id, client id) of every connection in `answers` authorized as one of `users`."""
    found: set[tuple[str, int]] = set()
    for raw in answers:
        try:
            answer = ConnzReply.model_validate_json(raw)
        except ValidationError:
            log.warning("unreadable CONNZ answer")
            continue
        for connection in (answer.data.connections if answer.data else None) or []:
            if connection.authorized_user in users:
                found.add((answer.server.id, connection.cid))
    return sorted(found)


@dataclass
class _KickInProgress:
    kick: Kick
    inbox: str
    subscription: str = ""
    answers: list[bytes] = field(default_factory=list)
    waiting: int = 0  # KICK requests not answered yet
    closed: int = 0


class KickerActor(SupervisedActor):
    """Uses a Bus connected with the master key under the SYSTEM_CONNECTION name."""

    def __init__(self, system_bus: Bus, *, account: str = "PARTOUT", gather: float = GATHER,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._bus = system_bus
        self._account = account
        self._gather = gather
        self._queue: collections.deque[Kick] = collections.deque()
        self._current: _KickInProgress | None = None

    def handle(self, message: object) -> None:
        match message:
            case Kick():
                self._queue.append(message)
                self._next()
            case BusMessage(subject=subject, data=data) if self._current and subject == self._current.inbox:
                self._current.answers.append(data)
            case Gathered(inbox) if self._current is not None and inbox == self._current.inbox:
                self._kick(self._current)
            case RequestReply() if self._current is not None:
                self._current.waiting -= 1
                if message.reply is not None and not message.error:
                    self._current.closed += 1
                else:
                    log.warning("kick failed", extra={"subject": message.subject, "error": message.error})
                self._finish_if_done(self._current)
            case BusMessage() | Gathered() | RequestReply():
                pass  # late: for a kick already over
            case _:
                super().handle(message)

    def _next(self) -> None:
        if self._current is not None or not self._queue:
            return
        kick = self._queue.popleft()
        users = tuple(user for user in kick.users if user)
        current = self._current = _KickInProgress(Kick(users, kick.future), subjects.unique_inbox())
        # the answers must find the subscription in place: wait for the server to have it
        current.subscription = self._bus.subscribe(current.inbox, self.actor_ref).get(timeout=5)
        for user in users:
            query = {"acc": self._account, "auth": True, "user": user, "limit": 1024}
            self._bus.publish(subjects.SERVER_CONNZ, json.dumps(query).encode(), reply=current.inbox)
        tell_later(self._gather, self.actor_ref, Gathered(current.inbox))

    def _kick(self, current: _KickInProgress) -> None:
        self._bus.unsubscribe(current.subscription)
        found = connections_of(current.answers, current.kick.users)
        current.waiting = len(found)
        for server_id, client_id in found:
            self._bus.ref.tell(Request(subjects.server_kick(server_id), json.dumps({"cid": client_id}).encode(),
                                       timeout=KICK_TIMEOUT, reply_to=self.actor_ref))
        self._finish_if_done(current)

    def _finish_if_done(self, current: _KickInProgress) -> None:
        if current.waiting > 0:
            return
        log.info("connections closed", extra={"users": list(current.kick.users), "closed": current.closed})
        current.kick.future.set(current.closed)
        self._current = None
        self._next()

    def on_stop(self) -> None:
        if self._current is not None and self._current.subscription:
            self._bus.unsubscribe(self._current.subscription)
        stopped = pykka.ActorDeadError("the kicker stopped before this kick was over")
        for kick in [*([self._current.kick] if self._current else []), *self._queue]:
            try:
                kick.future.set_exception((type(stopped), stopped, None))
            except Exception:  # already failed by the crash that stops this actor
                pass
        self._current = None
        self._queue.clear()


__all__ = ["ConnzReply", "Gathered", "Kick", "KickerActor", "connections_of"]
