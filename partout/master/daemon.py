"""`Master`: the master's actor tree, wired to NATS and the store.

    master = Master(load_config(path)).start()   # returns once it answers enrolments
    ...
    master.stop()

    Supervisor (one-for-one, restarts with backoff)
    ├── store         StoreActor: the one thread on the store; StoreHandle is its typed Store
    ├── callout       CalloutActor: auth callout answers, on its own bus (callout service user)
    ├── kicker        KickerActor: closes a revoked agent's connections (system bus)
    ├── ingest        IngestActor: facts (core NATS) and reports (durable JetStream consumer)
    ├── throttle      ThrottleActor: events per minute per agent and fleet-wide -> Advice to agents
    ├── event-ingest  EventIngestActor: event batches (durable JetStream consumer) -> store, partout.node.*
    ├── enrolment     EnrolmentActor: partout.enrol.<key>
    ├── publisher     PolicyPublisherActor: compile, sign, put in the policy KV; repair it
    ├── operator-api  OperatorApiActor: partout.master.api
    ├── inventory     InventoryActor: agents' p2.nodes requests (partout.inventory.<id>), read-only
    ├── dependencies  DependencyTrackerActor: data-changed to the agents whose p2.nodes answers changed
    ├── triggers      TriggerRouterActor: partout.trigger.<name> and event rules -> Control "trigger"
    ├── environments  EnvironmentWatcherActor: tells the publisher what changed on disk
    └── replicas      ReplicaKeeperActor: stream replicas follow the cluster's size

Children reach each other, and the bus reaches them, through `Address`es, so a restarted
child gets the messages sent while it was down. Nothing the master needs to be correct lives
only in its memory: agents, reports and policy versions are in the store, bundles in
JetStream, so several masters can run side by side (queue groups, one shared durable report
consumer) and restarts lose nothing. Between masters: policy publishes are compare-and-set on
the KV revision (partout.master.policy), operator nonces live in a shared KV bucket
(partout.master.guard.SharedNonces), and one SQLite file may be shared in WAL mode.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import nkeys
import pykka

from partout import subjects
from partout.bus.facade import Bus
from partout.bus.messages import BusOptions, GetStats, JetStreamConsume
from partout.errors import BusError, PartoutError
from partout.master.address import Address
from partout.master.callout import (
    CALLOUT_CONNECTION, SYSTEM_CONNECTION, Authorizer, CalloutActor, MasterResponder, store_lookup,
)
from partout.master.config import MasterConfig
from partout.master.dependencies import DependencyTrackerActor, InventoryChanged
from partout.master.enrolment import EnrolmentActor
from partout.master.environments import EnvironmentWatcherActor
from partout.master.events_ingest import EventIngestActor
from partout.master.guard import SecurityCounters
from partout.master.ingest import IngestActor
from partout.master.integrations import store_authorizer
from partout.master.inventory import InventoryActor
from partout.master.kick import KickerActor
from partout.master.operator_api import OperatorApiActor
from partout.master.policy import PolicyPublisherActor, PublishResults, Rebuild
from partout.master.replicas import ReplicaKeeper, ReplicaKeeperActor, automatic_replicas
from partout.master.store_actor import StoreActor, StoreHandle
from partout.master.throttle import ThrottleActor
from partout.master.trigger_rules import RuleMatcher
from partout.master.triggers import TriggerRouterActor
from partout.master.supervisor import (
    Child, ChildSpec, Crash, CurrentRef, Restarts, StartChildren, Supervisor,
)
from partout.nats.keys import ACCOUNT, USER, load_seed
from partout.state import ensure_state_dir
from partout.wire import encode
from partout.wire.fleet import Control

log = logging.getLogger(__name__)

QUEUE = "partout-master"
REPORTS_CONSUMER = "partout-master-reports"
EVENTS_CONSUMER = "partout-master-events"

# the tree, in start order (stopped in reverse); Master._start_<name> starts each
CHILDREN = ("store", "callout", "kicker", "ingest", "throttle", "event-ingest", "enrolment", "publisher",
            "operator-api", "inventory", "dependencies", "triggers", "environments", "replicas")


def started(bus: Bus, timeout: float = 10.0) -> Bus:
    """`bus` once its actor has run on_start (a message through its mailbox comes back)."""
    bus.ref.ask(GetStats(), timeout=timeout)
    return bus


class Master:
    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        seed = load_seed(config.key_path("master.nk"), USER)
        self.public_key = nkeys.from_seed(bytearray(seed)).public_key.decode("ascii")
        # masters may share a key: this tells this one apart from the others (partout.master.throttle)
        self.instance = uuid.uuid4().hex[:16]
        self.operator_keys = self._operator_keys()
        self.addresses = {name: Address() for name in CHILDREN}
        dependencies = self.addresses["dependencies"]
        self.store = StoreHandle(self.addresses["store"],
                                 on_change=lambda key: dependencies.tell(InventoryChanged(key)))
        self.bus: Bus | None = None
        self._system_bus: Bus | None = None
        self._replicas = 1
        self._supervisor: pykka.ActorRef[Supervisor] | None = None
        self.security = SecurityCounters()  # requests dropped or refused, per reason

    def _operator_keys(self) -> tuple[str, ...]:
        if self.config.operator_keys:
            return self.config.operator_keys
        path = self.config.key_path("operator.nk")
        seed = load_seed(path, USER)
        return (nkeys.from_seed(bytearray(seed)).public_key.decode("ascii"),)

    def _bus_options(self, name: str, key: str = "master.nk") -> BusOptions:
        return BusOptions(servers=self.config.nats_urls, name=name, seed_file=self.config.key_path(key))

    # -- the children ------------------------------------------------------------------

    def _specs(self) -> list[ChildSpec]:
        starters: dict[str, Callable[[Child], pykka.ActorRef[Any]]] = {
            "store": lambda child: StoreActor.start(self.config.store_location, child=child),
            "callout": self._start_callout,
            "kicker": lambda child: KickerActor.start(self._buses()[1], child=child),
            "ingest": lambda child: IngestActor.start(self.store, bus=self._buses()[0],
                                                      fact_sections=self.config.fact_sections, child=child),
            "throttle": lambda child: ThrottleActor.start(self._buses()[0], self.config.events,
                                                          instance=self.instance, child=child),
            "event-ingest": lambda child: EventIngestActor.start(
                self.store, bus=self._buses()[0], throttle=self.addresses["throttle"], settings=self.config.events,
                counters=self.security, rules=RuleMatcher(self.config.trigger_rules), triggers=self.addresses["triggers"],
                child=child),
            "enrolment": self._start_enrolment,
            "publisher": self._start_publisher,
            "operator-api": self._start_operator_api,
            "inventory": lambda child: InventoryActor.start(
                self._buses()[0], self.store, scope=self.config.inventory_scope, counters=self.security, child=child),
            "dependencies": lambda child: DependencyTrackerActor.start(
                self._buses()[0], self.store, window=self.config.data_changed_window, child=child),
            "triggers": lambda child: TriggerRouterActor.start(
                self._buses()[0], self.store, operator_keys=self.operator_keys,
                window=self.config.trigger_coalesce_window, rules=self.config.trigger_rules, counters=self.security,
                rate=self.config.trigger_rate, overall_rate=self.config.trigger_overall_rate, child=child),
            "environments": lambda child: EnvironmentWatcherActor.start(
                self.config.environments_dir, self.addresses["publisher"], debounce=self.config.debounce,
                child=child),
            "replicas": lambda child: ReplicaKeeperActor.start(
                ReplicaKeeper(self._buses()[1], self._buses()[0], self._replicas,
                              interval=self.config.replica_check_interval), child=child),
        }
        return [ChildSpec(name, starters[name], self.addresses[name]) for name in CHILDREN]

    def _buses(self) -> tuple[Bus, Bus]:
        assert self.bus is not None and self._system_bus is not None, "the buses start before these children"
        return self.bus, self._system_bus

    def _start_callout(self, child: Child) -> pykka.ActorRef[Any]:
        config = self.config
        authorizer = Authorizer(self.public_key, self.operator_keys, store_lookup(self.store),
                                agent_ttl=config.agent_credentials_ttl, integrations=store_authorizer(self.store))
        issuer = nkeys.from_seed(bytearray(load_seed(config.key_path("callout-issuer.nk"), ACCOUNT)))
        return CalloutActor.start(self._bus_options(CALLOUT_CONNECTION, "callout-service.nk"),
                                  MasterResponder(issuer, authorizer), child=child)

    def _start_enrolment(self, child: Child) -> pykka.ActorRef[Any]:
        config = self.config
        return EnrolmentActor.start(self._buses()[0], self.store, master_public_key=self.public_key,
                                    rules=config.auto_approve, max_pending=config.max_pending,
                                    counters=self.security, overall_rate=config.enrol_rate, child=child)

    def _start_publisher(self, child: Child) -> pykka.ActorRef[Any]:
        config = self.config
        return PolicyPublisherActor.start(
            self._buses()[0], self.store, environments=config.environments_dir,
            signing_seed_file=config.key_path("master.nk"), sample_facts=config.sample_facts,
            counters=self.security, child=child)

    def _start_operator_api(self, child: Child) -> pykka.ActorRef[Any]:
        config = self.config
        return OperatorApiActor.start(
            self._buses()[0], self.store, operator_keys=self.operator_keys, kicker=self.addresses["kicker"],
            default_environment=config.default_environment, master_public_key=self.public_key,
            counters=self.security, child=child)

    def _start_children(self, names: tuple[str, ...], timeout: float) -> None:
        assert self._supervisor is not None
        self._supervisor.ask(StartChildren(names), timeout=timeout)

    # -- life cycle --------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Master:
        """Connect, subscribe, publish every environment once; stops what started on failure."""
        config = self.config
        try:
            ensure_state_dir(config.state_dir)
            self._supervisor = Supervisor.start(self._specs())
            # the callout first: every other connection of the master goes through it
            self._start_children(("store", "callout") if config.callout else ("store",), timeout)
            self.bus = started(Bus.start(self._bus_options("partout-master")))
            self._system_bus = started(Bus.start(self._bus_options(SYSTEM_CONNECTION)))
            self._ensure_streams(timeout)
            self._start_children(("kicker", "ingest", "throttle", "event-ingest", "enrolment", "publisher",
                                  "operator-api", "inventory", "dependencies", "triggers"), timeout)
            self._subscribe(timeout)
            self.publish_environments(timeout=timeout)
            self._start_children(("environments", "replicas") if config.stream_replicas is None
                                 else ("environments",), timeout)
        except BaseException as error:
            self.stop()
            if isinstance(error, PartoutError) or not isinstance(error, Exception):
                raise
            raise BusError(f"the master could not start against NATS {', '.join(config.nats_urls)}: "
                           f"{str(error) or type(error).__name__}; is partout-nats running there, and is "
                           f"{config.key_path('master.nk')} its master key?") from error
        log.info("master started", extra={"public_key": self.public_key, "servers": list(config.nats_urls)})
        return self

    def _ensure_streams(self, timeout: float) -> None:
        """Streams and policy bucket with the configured replicas, or min(3, cluster size)
        (then kept up to date with the cluster's size by the replicas child)."""
        bus, system_bus = self._buses()
        if self.config.stream_replicas is not None:
            bus.ensure_streams(self.config.stream_replicas).get(timeout=timeout)
            return
        self._replicas = automatic_replicas(system_bus)
        bus.ensure_streams(self._replicas, keep_higher=True).get(timeout=timeout)

    def _subscribe(self, timeout: float) -> None:
        bus = self._buses()[0]
        addresses = self.addresses
        waits: list[pykka.Future[str]] = [
            bus.subscribe(subjects.ENROL_ALL, addresses["enrolment"], queue=QUEUE),
            bus.subscribe(subjects.AGENT_FACTS_ALL, addresses["ingest"], queue=QUEUE),
            bus.subscribe(subjects.master_api(), addresses["operator-api"], queue=QUEUE),
            bus.subscribe(subjects.INVENTORY_REQUESTS_ALL, addresses["inventory"], queue=QUEUE),
            bus.subscribe(subjects.EVENTS_COUNTED, addresses["throttle"]),  # every master counts every batch
            bus.subscribe(subjects.ADVICE_SENT, addresses["throttle"]),  # and knows what each agent was told
            bus.subscribe(subjects.TRIGGERS_ALL, addresses["triggers"], queue=QUEUE),
            # every change of the policy bucket: one that does not verify is replaced
            bus.subscribe(subjects.POLICY_UPDATES_ALL, addresses["publisher"], queue=QUEUE),
        ]
        consumed: pykka.Future[str] = pykka.ThreadingFuture()
        bus.ref.tell(JetStreamConsume(
            stream=subjects.REPORTS_STREAM, durable=REPORTS_CONSUMER, subject=subjects.AGENT_REPORTS_ALL,
            target=addresses["ingest"], ack_wait=self.config.report_ack_wait, future=consumed))
        events_consumed: pykka.Future[str] = pykka.ThreadingFuture()
        bus.ref.tell(JetStreamConsume(
            stream=subjects.EVENTS_STREAM, durable=EVENTS_CONSUMER, subject=subjects.AGENT_EVENTS_ALL,
            target=addresses["event-ingest"], ack_wait=self.config.events.ack_wait, future=events_consumed))
        for future in [*waits, consumed, events_consumed]:
            future.get(timeout=timeout)

    def publish_environments(self, environments: frozenset[str] | None = None,
                             timeout: float = 60.0) -> PublishResults:
        """Compile and publish now (all environments by default): {environment: sequence or None}."""
        future: pykka.Future[PublishResults] = pykka.ThreadingFuture()
        self.addresses["publisher"].tell(Rebuild(environments, future))
        return future.get(timeout=timeout)

    def apply_now(self, agent_id: str) -> None:
        """Ask an agent to run its policy now (Control "apply")."""
        self._buses()[0].publish(subjects.agent_control(agent_id), encode(Control(command="apply")))

    # -- what tests and operators look at ----------------------------------------------

    def child(self, name: str) -> pykka.ActorRef[Any] | None:
        """The running incarnation of a child (None while it restarts)."""
        if self._supervisor is None:
            return None
        ref: pykka.ActorRef[Any] | None = self._supervisor.ask(CurrentRef(name), block=True, timeout=10)
        return ref

    @property
    def ingest(self) -> pykka.ActorRef[Any] | None:
        return self.addresses["ingest"].ref

    def restarts(self) -> dict[str, int]:
        """How many times each child has been restarted after a crash."""
        assert self._supervisor is not None
        counts: dict[str, int] = self._supervisor.ask(Restarts(), block=True, timeout=10)
        return counts

    def crash(self, name: str, reason: str = "crash requested") -> None:
        """Make child `name` raise in its own thread (supervision tests): it is restarted."""
        self.addresses[name].tell(Crash(reason))

    def stop(self) -> None:
        """Close the connections, stop the actor tree (store last); safe to call twice."""
        for bus in (self.bus, self._system_bus):
            if bus is not None:
                try:
                    bus.stop()
                except Exception:
                    log.warning("bus did not stop cleanly", exc_info=True)
        if self._supervisor is not None:
            if self._supervisor.is_alive():
                self._supervisor.stop(timeout=30)
            self._supervisor = None
        log.info("master stopped")
