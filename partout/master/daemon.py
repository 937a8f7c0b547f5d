"""`Master`: wires the master's actors to NATS and the store.

    master = Master(load_config(path)).start()   # returns once it answers enrolments
    ...
    master.stop()

Nothing the master needs to be correct lives only in its memory: agents, reports and
policy versions are in the store, bundles in JetStream, so several masters can run side
by side (queue groups, one shared durable report consumer) and restarts lose nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import nkeys

from partout import subjects
from partout.errors import BusError, PartoutError
from partout.master.callout import SYSTEM_CONNECTION, Authorizer, CalloutService
from partout.master.config import MasterConfig
from partout.master.enrolment import EnrolmentActor
from partout.master.environments import EnvironmentWatcher
from partout.master.guard import SecurityCounters
from partout.master.ingest import IngestActor
from partout.master.kick import Kicker
from partout.master.operator_api import OperatorApiActor
from partout.master.policy import PolicyPublisherActor, Rebuild
from partout.master.replicas import ReplicaKeeper, automatic_replicas
from partout.master.store_actor import StoreHandle
from partout.nats.keys import ACCOUNT, USER, load_seed
from partout.bus.messages import BusOptions, GetStats, JetStreamConsume
from partout.state import ensure_state_dir
from partout.wire import encode
from partout.wire.fleet import Control

log = logging.getLogger(__name__)

QUEUE = "partout-master"
REPORTS_CONSUMER = "partout-master-reports"


def started(bus: Any, timeout: float = 10.0) -> Any:
    """`bus` once its actor has run on_start (a message through its mailbox comes back)."""
    bus.ref.ask(GetStats(), timeout=timeout)
    return bus


class Master:
    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        seed = load_seed(config.key_path("master.nk"), USER)
        self.public_key = nkeys.from_seed(bytearray(seed)).public_key.decode("ascii")
        self.operator_keys = self._operator_keys()
        self.store: StoreHandle | None = None
        self.bus: Any = None
        self._system_bus: Any = None
        self._callout: CalloutService | None = None
        self._watcher: EnvironmentWatcher | None = None
        self._replicas: ReplicaKeeper | None = None
        self._actors: list[Any] = []
        self.publisher: Any = None
        self.ingest: Any = None
        self.security = SecurityCounters()  # requests dropped or refused, per reason

    def _operator_keys(self) -> tuple[str, ...]:
        if self.config.operator_keys:
            return self.config.operator_keys
        path = self.config.key_path("operator.nk")
        seed = load_seed(path, USER)
        return (nkeys.from_seed(bytearray(seed)).public_key.decode("ascii"),)

    def _bus_options(self, name: str) -> BusOptions:
        return BusOptions(servers=self.config.nats_urls, name=name, seed_file=self.config.key_path("master.nk"))

    def _lookup(self, public_key: str) -> tuple[str, str, str] | None:
        assert self.store is not None
        agent = self.store.get("agent_by_public_key", public_key, timeout=10)
        if agent is None:
            return None
        return str(agent.status), agent.agent_id or "", agent.environment or ""

    def start(self, timeout: float = 30.0) -> Master:
        """Connect, subscribe, publish every environment once; stops what started on failure."""
        from partout.bus.facade import Bus

        config = self.config
        try:
            ensure_state_dir(config.state_dir)
            self.store = StoreHandle.start(config.store_location)
            self.store.get("agents", "approved", timeout=timeout)  # the store opened
            if config.callout:
                authorizer = Authorizer(self.public_key, self.operator_keys, self._lookup,
                                        agent_ttl=config.agent_credentials_ttl)
                self._callout = CalloutService(
                    list(config.nats_urls), load_seed(config.key_path("callout-service.nk"), USER),
                    nkeys.from_seed(bytearray(load_seed(config.key_path("callout-issuer.nk"), ACCOUNT))), authorizer)
                self._callout.start(timeout)
            self.bus = started(Bus.start(self._bus_options("partout-master")))
            self._system_bus = started(Bus.start(self._bus_options(SYSTEM_CONNECTION)))
            self._ensure_streams(timeout)
            self._start_actors()
            self._subscribe(timeout)
            self.publish_environments(timeout=timeout)
            self._watcher = EnvironmentWatcher(config.environments_dir, self._environments_changed,
                                               debounce=config.debounce)
            self._watcher.start()
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
        (then kept up to date with the cluster's size)."""
        if self.config.stream_replicas is not None:
            self.bus.ensure_streams(self.config.stream_replicas).get(timeout=timeout)
            return
        replicas = automatic_replicas(self._system_bus)
        self.bus.ensure_streams(replicas, keep_higher=True).get(timeout=timeout)
        self._replicas = ReplicaKeeper(self._system_bus, self.bus, replicas,
                                       interval=self.config.replica_check_interval).start()

    def _start_actors(self) -> None:
        assert self.store is not None
        config = self.config
        self.enrolment = EnrolmentActor.start(self.bus, self.store, master_public_key=self.public_key,
                                              rules=config.auto_approve, max_pending=config.max_pending,
                                              counters=self.security, overall_rate=config.enrol_rate)
        self.ingest = IngestActor.start(self.store, bus=self.bus, fact_sections=config.fact_sections)
        self.publisher = PolicyPublisherActor.start(
            self.bus, self.store, environments=config.environments_dir,
            signing_seed_file=config.key_path("master.nk"), sample_facts=config.sample_facts,
            counters=self.security)
        self.operator_api = OperatorApiActor.start(
            self.bus, self.store, operator_keys=self.operator_keys, kicker=Kicker(self._system_bus),
            default_environment=config.default_environment, master_public_key=self.public_key,
            counters=self.security)
        self._actors = [self.enrolment, self.ingest, self.publisher, self.operator_api]

    def _subscribe(self, timeout: float) -> None:
        import pykka

        waits = [
            self.bus.subscribe(subjects.ENROL_ALL, self.enrolment, queue=QUEUE),
            self.bus.subscribe(subjects.AGENT_FACTS_ALL, self.ingest, queue=QUEUE),
            self.bus.subscribe(subjects.master_api(), self.operator_api, queue=QUEUE),
            # every change of the policy bucket: one that does not verify is replaced
            self.bus.subscribe(subjects.POLICY_UPDATES_ALL, self.publisher, queue=QUEUE),
        ]
        consumed: pykka.Future[Any] = pykka.ThreadingFuture()
        self.bus.ref.tell(JetStreamConsume(
            stream=subjects.REPORTS_STREAM, durable=REPORTS_CONSUMER, subject=subjects.AGENT_REPORTS_ALL,
            target=self.ingest, ack_wait=self.config.report_ack_wait, future=consumed))
        for future in [*waits, consumed]:
            future.get(timeout=timeout)

    def _environments_changed(self, environments: frozenset[str]) -> None:
        if self.publisher is not None and self.publisher.is_alive():
            self.publisher.tell(Rebuild(environments))

    def publish_environments(self, environments: frozenset[str] | None = None,
                             timeout: float = 60.0) -> dict[str, int | None]:
        """Compile and publish now (all environments by default): {environment: sequence or None}."""
        import pykka

        future: pykka.Future[dict[str, int | None]] = pykka.ThreadingFuture()
        self.publisher.tell(Rebuild(environments, future))
        return future.get(timeout=timeout)

    def apply_now(self, agent_id: str) -> None:
        """Ask an agent to run its policy now (Control "apply")."""
        self.bus.publish(subjects.agent_control(agent_id), encode(Control(command="apply")))

    def stop(self) -> None:
        """Stop watching, close the connections, stop the actors and the store; safe to call twice."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._replicas is not None:
            self._replicas.stop()
            self._replicas = None
        for bus in (self.bus, self._system_bus):
            if bus is not None:
                try:
                    bus.stop()
                except Exception:
                    log.warning("bus did not stop cleanly", exc_info=True)
        for actor in self._actors:
            if actor.is_alive():
                actor.stop(timeout=10)
        self._actors = []
        if self._callout is not None:
            self._callout.stop()
            self._callout = None
        if self.store is not None:
            self.store.stop()
        log.info("master stopped")
