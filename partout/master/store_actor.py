"""`StoreActor`: the one thread that talks to the master's store, and `StoreHandle`, the
typed `Store` the master's other actors hold.

SQLite connections belong to the thread that made them, and one writer at a time is what
WAL wants anyway, so every store call of the master goes through this actor's mailbox:

    store = StoreHandle(address)                 # the store child's Address
    agent = store.get_agent(agent_id)            # AgentRecord | None, typed like Store's
    agent, matched = store.run(match_agent, "web1")   # any function of the Store, in one go

Each call is a `StoreCall[T]` (a function of the `Store` and the future of its `T`); an
error of the store (AgentNotFound, StoreError...) goes back to the caller, the actor lives
on. A crash of the actor itself (a bug, `Crash`) is its supervisor's business: calls made
meanwhile wait in the Address and run on the restarted store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

import pykka

from partout.events.rollup import RetentionPolicy
from partout.events.wire import EventBatch, NodeEvent
from partout.master.address import Address
from partout.master.store.base import (
    AgentRecord, AgentStatus, DependencyRecord, EnrolmentLogEntry, PolicyErrorRecord, PolicyVersion, ReportRecord,
    Store,
)
from partout.master.store.integrations import IntegrationRecord, IntegrationRole
from partout.master.store.event_records import EventCount, EventQuery, RollupSummary
from partout.master.store.trigger_records import TriggerQuery, TriggerRecord
from partout.master.supervisor import Child, SupervisedActor
from partout.report import Report

if TYPE_CHECKING:
    from partout.inventory import Answer, Query

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")
CALL_TIMEOUT = 30.0  # seconds; a store that takes longer is broken, not busy


@dataclass(frozen=True)
class StoreCall(Generic[T]):
    """Run `operation(store)` on the store thread; its result or error goes to `future`."""

    operation: Callable[[Store], T]
    future: pykka.Future[T]


class StoreActor(SupervisedActor):
    def __init__(self, location: str, *, child: Child | None = None) -> None:
        super().__init__(child=child)
        self._location = location
        self._store: Store | None = None

    def start_up(self) -> None:
        from partout.master.store import open_store

        self._store = open_store(self._location)

    def on_stop(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def handle(self, message: object) -> None:
        if not isinstance(message, StoreCall):
            return super().handle(message)
        assert self._store is not None  # start_up opened it, or this actor crashed
        try:
            result = message.operation(self._store)
        except Exception as error:  # the caller's error (unknown agent...), not the actor's
            message.future.set_exception((type(error), error, error.__traceback__))
            return None
        message.future.set(result)
        return None


class StoreHandle:
    """A `Store` whose every method is a StoreCall to the store actor (waits for the answer).

    `on_change(key)` is called after a write that may change inventory answers (new facts,
    an approval, a revocation): the master's dependency tracker listens there."""

    def __init__(self, address: Address, *, timeout: float = CALL_TIMEOUT,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.address = address
        self._timeout = timeout
        self.on_change = on_change

    def _changed(self, key: str) -> None:
        if self.on_change is not None:
            self.on_change(key)

    def call(self, operation: Callable[[Store], T]) -> pykka.Future[T]:
        """Send `operation` to the store thread; its result comes in the future."""
        future: pykka.Future[T] = pykka.ThreadingFuture()
        self.address.tell(StoreCall(operation, future))
        return future

    def run(self, function: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`function(store, *args, **kwargs)` on the store thread (several reads as one), its result."""
        return self._wait(lambda store: function(store, *args, **kwargs))

    def _wait(self, operation: Callable[[Store], T]) -> T:
        return self.call(operation).get(timeout=self._timeout)

    # agents
    def upsert_pending(self, public_key: str, hostname: str, facts: dict[str, Any]) -> AgentRecord:
        agent = self._wait(lambda store: store.upsert_pending(public_key, hostname, facts))
        if agent.status is AgentStatus.APPROVED:  # an approved agent enrolling again brings its facts
            self._changed(agent.key)
        return agent

    def approve(self, key: str, environment: str) -> AgentRecord:
        approved = self._wait(lambda store: store.approve(key, environment))
        self._changed(approved.key)
        return approved

    def revoke(self, key: str) -> AgentRecord:
        revoked = self._wait(lambda store: store.revoke(key))
        self._changed(revoked.key)
        return revoked

    def get_agent(self, key: str) -> AgentRecord | None:
        return self._wait(lambda store: store.get_agent(key))

    def agent_by_public_key(self, public_key: str) -> AgentRecord | None:
        return self._wait(lambda store: store.agent_by_public_key(public_key))

    def agents(self, status: AgentStatus | str | None = None, environment: str | None = None) -> list[AgentRecord]:
        return self._wait(lambda store: store.agents(status, environment))

    def touch(self, key: str, time: datetime | None = None) -> None:
        return self._wait(lambda store: store.touch(key, time))

    def put_facts(self, key: str, facts: dict[str, Any]) -> bool:
        changed = self._wait(lambda store: store.put_facts(key, facts))
        if changed:
            self._changed(key)
        return changed

    # reports
    def add_report(self, agent_id: str, report: Report, *, report_id: str, policy_digest: str = "") -> bool:
        return self._wait(lambda store: store.add_report(agent_id, report, report_id=report_id,
                                                         policy_digest=policy_digest))

    def get_report(self, report_id: str) -> ReportRecord | None:
        return self._wait(lambda store: store.get_report(report_id))

    def reports(self, agent_id: str, limit: int = 20) -> list[ReportRecord]:
        return self._wait(lambda store: store.reports(agent_id, limit))

    def prune_reports(self, keep_per_agent: int = 100) -> int:
        return self._wait(lambda store: store.prune_reports(keep_per_agent))

    # enrolment log
    def log_enrolment(self, entry: EnrolmentLogEntry) -> None:
        return self._wait(lambda store: store.log_enrolment(entry))

    def enrolments(self, limit: int = 100) -> list[EnrolmentLogEntry]:
        return self._wait(lambda store: store.enrolments(limit))

    # policies
    def record_policy_error(self, error: PolicyErrorRecord) -> None:
        return self._wait(lambda store: store.record_policy_error(error))

    def policy_errors(self, environment: str | None = None, limit: int = 20) -> list[PolicyErrorRecord]:
        return self._wait(lambda store: store.policy_errors(environment, limit))

    def record_policy_version(self, version: PolicyVersion) -> None:
        return self._wait(lambda store: store.record_policy_version(version))

    def latest_policy_version(self, environment: str) -> PolicyVersion | None:
        return self._wait(lambda store: store.latest_policy_version(environment))

    # integrations
    def add_integration(self, name: str, role: IntegrationRole, public_key: str) -> IntegrationRecord:
        return self._wait(lambda store: store.add_integration(name, role, public_key))

    def integrations(self, *, removed: bool = False) -> list[IntegrationRecord]:
        return self._wait(lambda store: store.integrations(removed=removed))

    def integration_by_public_key(self, public_key: str) -> IntegrationRecord | None:
        return self._wait(lambda store: store.integration_by_public_key(public_key))

    def remove_integration(self, name: str) -> IntegrationRecord:
        return self._wait(lambda store: store.remove_integration(name))

    # events
    def add_event_batch(self, batch: EventBatch, *, received_at: datetime, retention: RetentionPolicy) -> bool:
        return self._wait(lambda store: store.add_event_batch(batch, received_at=received_at, retention=retention))

    def events(self, query: EventQuery) -> list[NodeEvent]:
        return self._wait(lambda store: store.events(query))

    def event_counts(self, query: EventQuery) -> list[EventCount]:
        return self._wait(lambda store: store.event_counts(query))

    def roll_up_events(self, now: datetime, retention: RetentionPolicy) -> RollupSummary:
        return self._wait(lambda store: store.roll_up_events(now, retention))

    # inventory
    def inventory(self, query: Query, fields: Sequence[str] | None = None, *, environment: str | None = None,
                  status: AgentStatus | str | None = None) -> Answer:
        return self._wait(lambda store: store.inventory(query, fields, environment=environment, status=status))

    def record_dependency(self, dependency: DependencyRecord) -> DependencyRecord:
        return self._wait(lambda store: store.record_dependency(dependency))

    def dependencies(self, agent_id: str | None = None) -> list[DependencyRecord]:
        return self._wait(lambda store: store.dependencies(agent_id))

    def forget_dependencies(self, agent_id: str) -> int:
        return self._wait(lambda store: store.forget_dependencies(agent_id))

    def record_trigger(self, trigger: TriggerRecord) -> bool:
        return self._wait(lambda store: store.record_trigger(trigger))

    def triggers(self, query: TriggerQuery) -> list[TriggerRecord]:
        return self._wait(lambda store: store.triggers(query))

    def close(self) -> None:
        """The store closes with its actor (the supervisor stops it); nothing to do here."""


if TYPE_CHECKING:  # the handle is a Store: mypy checks every signature against the protocol
    def _is_a_store(handle: StoreHandle) -> Store:
        return handle


__all__ = ["StoreActor", "StoreCall", "StoreHandle"]
