"""The bus child: owns the agent's NATS connection (a `Bus`), replaces it when it is closed,
stalls or its credentials expire, and listens on the agent's control subject.

Every connection it opens gets a generation number; the Bus tells its state changes to
a callable that only tells this actor `_BusState(generation, state)`, so the state of a
connection already replaced (its own "closed") is recognised and ignored. Once a new
connection is up the supervisor hears `BusReady` and hands it to the children that
publish or subscribe; the connection it replaces is closed only then, on a thread of its
own (a hung one may take long to close, and the actor must not wait for it).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from partout import subjects
from partout.actors.supervisor import PooledChild, Send, tell_later, tell_quietly
from partout.agent.enrolment import reconnect_pauses, stop_quietly
from partout.agent.event_messages import EVENTS, EventsNotice
from partout.agent.facts import known_sections
from partout.agent.messages import (
    BUS, FACTS, RUNNER, AgentContext, ApplyNow, BusReady, FactSections, Reconnect,
)
from partout.agent.notices import Notices
from partout.events.notices import EVENTS_COMMAND
from partout.wire import decode
from partout.wire.fleet import Control
from partout.wire.triggers import TRIGGER_COMMAND, fired_triggers

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.bus.messages import BusMessage, ConnectionState

log = logging.getLogger(__name__)

# a connection attempt can hang when the server drops it mid-handshake (seen with a
# thousand agents connecting at once): one not up after this long is replaced
CONNECT_STALL = 30.0
# credentials are renewed at this share of their lifetime (the agent cannot read their expiry:
# it learns the lifetime from the first one that runs out); shorter lifetimes are not learnt
RENEW_SHARE, MIN_LIFETIME = 0.75, 1.0
CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True)
class _BusState:
    generation: int
    state: ConnectionState


@dataclass(frozen=True)
class _StallCheck:
    generation: int


@dataclass(frozen=True)
class _RenewDue:
    generation: int


@dataclass(frozen=True)
class _Reopen:
    generation: int


@dataclass(frozen=True)
class _ControlReceived:
    data: bytes


def open_bus(context: AgentContext, *, name: str | None = None) -> Bus:
    """A Bus under the agent's approved identity (its inbox prefix, its nkey)."""
    from partout.bus.facade import Bus
    from partout.bus.messages import BusOptions

    config = context.config
    return Bus.start(BusOptions(servers=config.servers, name=name or f"partout-agent-{context.agent_id}",
                                seed_file=context.seed_path, refused_max_wait=config.refused_max_wait,
                                inbox_prefix=subjects.inbox_prefix(context.agent_id)))


def close_in_background(bus: Bus) -> None:
    threading.Thread(target=stop_quietly, args=(bus,), name="partout-bus-close", daemon=True).start()


class ConnectionActor(PooledChild):
    name = BUS

    def __init__(self, parent: pykka.ActorRef[Any], context: AgentContext) -> None:
        super().__init__(parent)
        self._context = context
        self._notices = Notices()
        self._reopens = reconnect_pauses()
        self._generation = 0
        self._bus: Bus | None = None
        self._replaced: list[Bus] = []  # still open until the new one is up
        self._state = "connecting"
        self._connected_at: float | None = None  # monotonic time the current connection came up
        self._lifetime: float | None = None  # seconds, learnt at the last expiry
        self._reopen_pending = False
        self._up = False  # the current connection connected at least once

    def begin(self) -> None:
        self._open()

    def on_stop(self) -> None:
        for bus in self._replaced:
            close_in_background(bus)
        if self._bus is not None:
            stop_quietly(self._bus, timeout=CLOSE_TIMEOUT)

    def handle(self, message: object) -> object:
        match message:
            case _BusState(generation, state):
                if generation == self._generation:
                    self._on_state(state)
            case _StallCheck(generation):
                self._check_stall(generation)
            case _RenewDue(generation):
                if generation == self._generation and self._state in ("connected", "reconnected"):
                    self._renew(expired=False)
            case _Reopen(generation):
                if generation == self._generation:
                    self._replace()
            case Reconnect(reason):
                log.info("connecting anew", extra={"agent_id": self._context.agent_id, "reason": reason})
                self._reopen_later()
            case _ControlReceived(data):
                self._on_control(data)
            case _:
                return super().handle(message)
        return None

    # -- connections -------------------------------------------------------------------

    def _open(self) -> None:
        self._generation += 1
        generation, me = self._generation, self.actor_ref
        self._state, self._up, self._reopen_pending = "connecting", False, False
        self._bus = open_bus(self._context)
        self._bus.watch_connection(lambda state: tell_quietly(me, _BusState(generation, state)))
        tell_later(CONNECT_STALL, me, _StallCheck(generation))

    def _replace(self) -> None:
        """A new connection; the current one closes once the new one is up (or now if it is dead)."""
        old = self._bus
        if old is not None:
            if self._state == "closed":
                close_in_background(old)
            else:
                self._replaced.append(old)
        self._open()

    def _reopen_later(self) -> None:
        """Replace the connection after a pause (the one retry policy), once per generation."""
        if self._reopen_pending:
            return
        self._reopen_pending = True
        pause = self._reopens.next()
        log.warning("NATS connection closed, connecting again", extra={"agent_id": self._context.agent_id,
                                                                       "pause": round(pause, 2)})
        tell_later(pause, self.actor_ref, _Reopen(self._generation))

    def _on_state(self, state: ConnectionState) -> None:
        self._state = state.state
        self._notices.on_connection(state, self._context.config.refused_max_wait)
        assert self._bus is not None
        if state.state in ("connected", "reconnected"):
            self._reopens.reset()
            self._up = True
            # connected or reconnected, the server just checked our credentials: fresh ones
            self._connected_at = time.monotonic()
            if state.state == "connected":  # nats-py keeps subscriptions across its reconnects
                self._subscribe_control(self._bus)
            self.parent.tell(BusReady(self._bus, self._generation, reconnected=state.state == "reconnected"))
            for old in self._replaced:
                close_in_background(old)
            self._replaced = []
            if self._lifetime is not None:
                tell_later(RENEW_SHARE * self._lifetime, self.actor_ref, _RenewDue(self._generation))
        elif state.state == "closed":
            if "authentication expired" in state.reason.lower():
                self._renew(expired=True)
            else:
                self._reopen_later()

    def _check_stall(self, generation: int) -> None:
        if generation != self._generation or self._up or self._state == "closed":
            return  # a stall is a first connection that never comes; later breaks nats-py mends
        if self._state == "refused":
            # the bus backs off by itself while NATS refuses our key: a new connection would
            # only start its pauses over
            tell_later(CONNECT_STALL, self.actor_ref, _StallCheck(generation))
            return
        log.info("no NATS connection yet; connecting anew", extra={"agent_id": self._context.agent_id})
        self._replace()

    def _renew(self, *, expired: bool) -> None:
        """Get fresh NATS credentials (the master's `agent_credentials_ttl`) by connecting
        again, which re-asks the master's auth callout while we are approved: a new
        connection first, then the old one goes (before expiry nothing is missed; after it,
        the server has closed the old one already). Reports in flight on the old one are
        published again by the outbox (same message id, stored once)."""
        now = time.monotonic()
        if expired and self._connected_at is not None and now - self._connected_at > MIN_LIFETIME:
            self._lifetime = now - self._connected_at  # renew before it next time
        log.info("renewing NATS credentials", extra={"agent_id": self._context.agent_id, "expired": expired})
        self._replace()

    # -- the control subject --------------------------------------------------------------

    def _subscribe_control(self, bus: Bus) -> None:
        me = self.actor_ref

        def deliver(message: BusMessage) -> None:
            tell_quietly(me, _ControlReceived(message.data))

        bus.subscribe(subjects.agent_control(self._context.agent_id), deliver)

    def _on_control(self, data: bytes) -> None:
        control = decode(Control, data)
        if control is not None and control.command == "apply":
            self.parent.tell(Send(RUNNER, ApplyNow("control")))
        elif control is not None and control.command == EVENTS_COMMAND:
            self.parent.tell(Send(EVENTS, EventsNotice(control.parameters)))
        elif control is not None and control.command == "data-changed":  # a p2.nodes answer changed
            self.parent.tell(Send(RUNNER, ApplyNow("data-changed")))
        elif control is not None and control.command == TRIGGER_COMMAND:
            self._on_triggers(control.parameters)
        elif control is not None and control.command == "facts":
            asked = control.parameters.get("sections")
            sections = known_sections(asked) if isinstance(asked, list) else frozenset()
            if sections:
                self.parent.tell(Send(FACTS, FactSections(sections)))
            else:
                log.warning("control 'facts' without known sections ignored",
                            extra={"agent_id": self._context.agent_id})

    def _on_triggers(self, parameters: dict[str, Any]) -> None:
        from partout.dsl.triggers import fired

        triggers = fired_triggers(parameters)
        if triggers is None:
            log.warning("control 'trigger' without valid triggers ignored", extra={"agent_id": self._context.agent_id})
            return
        names = ",".join(sorted({trigger.name for trigger in triggers}))
        self.parent.tell(Send(RUNNER, ApplyNow(f"trigger:{names}", tuple(
            fired(trigger.name, trigger.data, sender=trigger.sender, trigger_id=trigger.trigger_id)
            for trigger in triggers))))


__all__ = ["CONNECT_STALL", "RENEW_SHARE", "ConnectionActor", "open_bus"]
