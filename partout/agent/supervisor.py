"""The agent's actor tree: the supervisor and, in one table, the children it starts.

    AgentSupervisor
    ├── enrolment     (until approved; a thread of its own)
    └── once approved, in this order:
        ├── bus          the NATS connection: reconnect, renew credentials, control subject
        ├── policy-feed  follow the policy key, verify and install bundles
        ├── runner       compile (CompilerActor) and apply (Engine), watch, interval (a thread)
        ├── outbox       reports and event batches through the on-disk spool to JetStream (a thread)
        ├── events       every resource outcome counted, one event batch per period
        └── facts        the fact sections the master asks for

Children talk through the supervisor (`Send(name, message)`), which keeps what a
restarting child misses. It also keeps the agent's status, a snapshot it hands to the
`Agent` facade on every change.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from partout.actors.supervisor import ChildFactory, Supervisor
from partout.agent.approval import EnrolmentActor
from partout.agent.config import AgentConfig
from partout.agent.connection import ConnectionActor
from partout.agent.credentials import Credentials
from partout.agent.event_messages import EVENTS
from partout.agent.events_actor import EventsActor
from partout.agent.facts_publisher import FactsActor
from partout.agent.feed_actor import PolicyFeedActor
from partout.agent.messages import (
    BUS, ENROLMENT, FACTS, OUTBOX, POLICY_FEED, RUNNER, AgentContext, AgentStatus, Applying, BusReady, Enrolled,
    Standing, UpdatesDropped,
)
from partout.agent.runner import RunnerActor
from partout.agent.spool_actor import SpoolActor
from partout.retry import Backoff
from partout.wire.fleet import RunReport

log = logging.getLogger(__name__)

# The operational children, in start order.
CHILDREN: dict[str, Callable[[pykka.ActorRef[Any], AgentContext], pykka.ActorRef[Any]]] = {
    BUS: ConnectionActor.start,
    POLICY_FEED: PolicyFeedActor.start,
    RUNNER: RunnerActor.start,
    OUTBOX: SpoolActor.start,
    EVENTS: EventsActor.start,
    FACTS: FactsActor.start,
}
# At stop: no more runs first; the events' last counts handed to the outbox, which is
# flushed while the connection is still up (what is left stays in its spool).
STOP_ORDER = (ENROLMENT, RUNNER, POLICY_FEED, FACTS, EVENTS, OUTBOX, BUS)
# who is told each new connection (and told it again when restarted)
ON_THE_BUS = (RUNNER, POLICY_FEED, OUTBOX, FACTS)  # the runner first: p2.nodes asks on it


@dataclass(frozen=True)
class StopChildren:
    """Asked by `Agent.stop`: no restarts from now on; the answer is the children to stop, in order."""


class AgentSupervisor(Supervisor):
    def __init__(self, config: AgentConfig, *, stopping: threading.Event,
                 on_status: Callable[[AgentStatus], None],
                 on_report: Callable[[RunReport], None] | None = None,
                 on_policy: Callable[[int], None] | None = None) -> None:
        children: dict[str, ChildFactory] = {
            ENROLMENT: lambda parent: EnrolmentActor.start(parent, config, stopping)}
        for name, start in CHILDREN.items():
            children[name] = self._factory(start)
        super().__init__(children, restarts=Backoff(first=0.5, limit=60.0))
        self._config = config
        self._on_status = on_status
        self._callbacks = (on_report, on_policy)
        self._context: AgentContext | None = None
        self._status = AgentStatus()
        self._bus_ready: BusReady | None = None

    def on_start(self) -> None:
        self.start_child(ENROLMENT)

    def _factory(self, start: Callable[[pykka.ActorRef[Any], AgentContext], pykka.ActorRef[Any]]) -> ChildFactory:
        def started(parent: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
            assert self._context is not None, "operational children start after approval"
            return start(parent, self._context)

        return started

    def _update(self, **changes: Any) -> None:
        self._status = dataclasses.replace(self._status, **changes)
        self._on_status(self._status)

    # -- messages --------------------------------------------------------------------

    def handle(self, message: object) -> object:
        match message:
            case Standing(state, error):
                if self._status.state not in ("refused", "failed", "stopped") or state in ("refused", "failed"):
                    self._update(state=state, error=error)
            case Enrolled():
                self._enrolled()
            case Applying(sequence):
                self._update(applied_sequence=sequence)
            case UpdatesDropped(count):
                self._update(policy_updates_dropped=count)
            case BusReady():
                self._bus_ready = message
                self._update(bus=message.bus)
                for name in ON_THE_BUS:
                    self.send(name, message)
            case StopChildren():
                self.stopping = True
                running = dict(self.running())
                return [(name, running[name]) for name in STOP_ORDER if name in running]
            case _:
                return super().handle(message)
        return None

    def _enrolled(self) -> None:
        enrolment = self.forget(ENROLMENT)
        if enrolment is not None:
            enrolment.stop(block=False)
        if self.stopping:
            return
        credentials = Credentials.load(self._config.state_dir)
        assert credentials.agent_id and credentials.environment and credentials.master_public_key
        on_report, on_policy = self._callbacks
        self._context = AgentContext(self._config, credentials.agent_id, credentials.environment,
                                     credentials.master_public_key, credentials.seed_path,
                                     on_report=on_report, on_policy=on_policy)
        self._update(agent_id=credentials.agent_id, environment=credentials.environment)
        for name in CHILDREN:
            self.start_child(name)

    def child_started(self, name: str, *, restarted: bool) -> None:
        if restarted and name in ON_THE_BUS and self._bus_ready is not None:
            self.send(name, self._bus_ready)

    def child_restarting(self, name: str, error: BaseException, delay: float) -> None:
        self._update(restarts=dict(self.restart_counts))


__all__ = ["CHILDREN", "STOP_ORDER", "AgentSupervisor", "StopChildren"]
