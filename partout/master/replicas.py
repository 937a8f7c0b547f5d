"""How many replicas the master gives Partout's streams and policy bucket: min(3, size of
the JetStream cluster), asked of the servers; raised while the master runs when the cluster grows.

    replicas = automatic_replicas(system_bus)          # at start
    ReplicaKeeperActor.start(ReplicaKeeper(system_bus, bus, replicas))   # checks every minute

The size comes from `$SYS.REQ.SERVER.PING.JSZ` on the master's system connection (SYS
account; first answer wins): every server of a JetStream cluster reports its meta group's
`cluster_size`, which counts every known peer, down ones included, so a node that is down
when the master starts does not lower the count. A server outside a cluster has no meta
group: size 1. Replicas chosen this way only ever go up (`keep_higher`); an operator who
wants fewer sets `stream_replicas`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout import subjects
from partout.errors import BusError
from partout.master.supervisor import Child, SupervisedActor, tell_later
from partout.retry import Backoff

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

JSZ = subjects.SERVER_JSZ
MAX_REPLICAS = 3


class _MetaCluster(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cluster_size: int = Field(0, ge=0)


class _JszData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meta_cluster: _MetaCluster | None = None


class _ServerError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str = ""


class JszReply(BaseModel):
    """The part of a server's JSZ answer this module reads."""

    model_config = ConfigDict(extra="ignore")

    data: _JszData | None = None
    error: _ServerError | None = None


def replicas_for(cluster_size: int) -> int:
    return max(1, min(MAX_REPLICAS, cluster_size))


def cluster_size(system_bus: Bus, timeout: float = 2.0) -> int:
    """The number of JetStream servers of the cluster the system connection reaches."""
    reply = system_bus.request(JSZ, b"{}", timeout=timeout).get(timeout=timeout + 5)
    try:
        answer = JszReply.model_validate_json(reply.data)
    except ValidationError as error:
        raise BusError(f"unreadable answer to {JSZ}: {error.errors()[0]['msg']}") from None
    if answer.error is not None:
        raise BusError(f"{JSZ} refused: {answer.error.description}")
    meta = answer.data.meta_cluster if answer.data is not None else None
    return meta.cluster_size if meta is not None and meta.cluster_size > 0 else 1


def automatic_replicas(system_bus: Bus, *, patience: float = 15.0) -> int:
    """min(3, cluster size); 1 with a warning when no server answers within `patience` s."""
    deadline = time.monotonic() + patience
    pauses = Backoff(first=0.25, limit=2.0)
    while True:
        try:
            size = cluster_size(system_bus)
            replicas = replicas_for(size)
            log.info("stream replicas chosen from the cluster size", extra={"cluster_size": size,
                                                                           "replicas": replicas})
            return replicas
        except Exception as error:
            if time.monotonic() >= deadline:
                log.warning("cannot ask the servers for the cluster size; new streams get 1 replica, existing "
                            "ones keep theirs (set stream_replicas to choose)", extra={"error": str(error)})
                return 1
            # the master's start-up thread: nothing else to do until the servers answer
            time.sleep(min(pauses.next(), max(0.0, deadline - time.monotonic())))


class ReplicaKeeper:
    """Asks the cluster size and raises the streams' replicas when it grew."""

    def __init__(self, system_bus: Bus, bus: Bus, replicas: int, *, interval: float = 60.0) -> None:
        self._system_bus = system_bus
        self._bus = bus
        self.replicas = replicas
        self.interval = interval

    def check(self) -> int:
        """Raise the replicas if the cluster has grown; the replicas now."""
        wanted = replicas_for(cluster_size(self._system_bus))
        if wanted > self.replicas:
            self._bus.ensure_streams(wanted, keep_higher=True).get(timeout=60)
            log.info("stream replicas raised: the cluster has grown", extra={"from": self.replicas, "to": wanted})
            self.replicas = wanted
        return self.replicas


@dataclass(frozen=True)
class CheckReplicas:
    """Scheduled by the ReplicaKeeperActor for itself, every `interval` seconds."""


class ReplicaKeeperActor(SupervisedActor):
    """Runs `keeper.check()` every `keeper.interval` seconds (a failed check waits for the next)."""

    def __init__(self, keeper: ReplicaKeeper, *, child: Child | None = None) -> None:
        super().__init__(child=child)
        self._keeper = keeper

    def start_up(self) -> None:
        tell_later(self._keeper.interval, self.actor_ref, CheckReplicas())

    def handle(self, message: object) -> None:
        if not isinstance(message, CheckReplicas):
            return super().handle(message)
        try:
            self._keeper.check()
        except Exception as error:  # a node restarting, a leader election: next time
            log.warning("stream replicas not checked", extra={"error": f"{type(error).__name__}: {error}"})
        tell_later(self._keeper.interval, self.actor_ref, CheckReplicas())
        return None
