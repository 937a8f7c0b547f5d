"""Events through a 3-node `partout-nats --cluster 3`: real agents repair a storm of drifts
while one node is killed (and kept down): the leader of the events stream, or the node an
agent is connected to (its publishes in flight are cut off). Every event counted at the
source (each resource result of each run an agent made) is in the master's store, as
`partout events` totals it, and no batch is stored twice."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_events_support import batches, results
from clusterenv import Cluster, running_cluster
from fleetenv import Fleet, FleetAgent, approved
from helpers import eventually, run_partout

from partout import subjects
from partout.actors.flap import RepairLimit
from partout.agent.config import EventSettings

AGENTS = 3
# a short P whatever the storm's rate, at full detail: the test waits for counts, not for Pmax
THROTTLE = """
[master.events.throttle]
splay = 0.0
[master.events.throttle.fleet]
divisor = 100.0
period_min = 1
period_max = 2
[master.events.throttle.agent]
divisor = 100.0
period_min = 1
period_max = 2
"""
PERIOD_MAX = 2.0
# the storm is the point here: flap control would otherwise slow repairs (and events) to a trickle
NO_FLAP_CONTROL = RepairLimit(burst=1_000_000, rate=1_000.0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    config = tmp_path / "master.toml"
    config.write_text(THROTTLE)
    with running_cluster(tmp_path, ("--config", str(config))) as running:
        yield running


def stored_count(fleet: Fleet, agent_id: str) -> int:
    """The master's total for the agent, as `partout events` reads it (-1 while it cannot answer)."""
    try:
        return int(fleet.operator.events(agent=agent_id)["totals"]["count"])
    except Exception:
        return -1


class Storm:
    """A thread per agent that drifts its watched file as fast as it can until stopped."""

    def __init__(self, agents: list[FleetAgent]) -> None:
        self.stop = threading.Event()
        self.writes = 0
        self._threads = [threading.Thread(target=self._drift, args=(agent,), daemon=True) for agent in agents]

    def _drift(self, agent: FleetAgent) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            agent.motd.write_text(f"drift {number}\n")
            self.writes += 1
            self.stop.wait(0.02)

    def __enter__(self) -> Storm:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def connected_node(cluster: Cluster, agent: FleetAgent) -> str:
    """The node the agent's connection is on now."""
    found: list[str] = []

    def connected() -> bool:
        bus = agent.agent.bus
        server = bus.stats().get(timeout=10).server if bus is not None else ""
        found[:] = [server]
        return bool(server)

    assert eventually(connected, timeout=30, interval=0.2)
    return cluster.node_at(found[0])


@pytest.mark.slow
@pytest.mark.parametrize("lost", ["events-leader", "agent-node"])
def test_events_sent_while_a_node_is_killed_are_all_stored(cluster: Cluster, lost: str) -> None:
    fleet = cluster.fleet
    streams = cluster.streams()
    assert streams[subjects.EVENTS_STREAM][0] == 3
    agents = [fleet.agent(f"prod-storm-{index}", master_key=cluster.master_key,
                          events=EventSettings(period=1.0, splay=0.0), repair_limit=NO_FLAP_CONTROL)
              for index in range(AGENTS)]
    for agent in agents:
        assert approved(agent, timeout=60)
        assert eventually(lambda agent=agent: agent.content() == "production 1\n", timeout=60)  # type: ignore[misc]
    ids = [agent.agent.agent_id or "" for agent in agents]

    def repairs() -> list[int]:
        return [len(agent.runs()) for agent in agents]

    # the stream's leader (elections, publishes unanswered), or the first agent's own server
    victim = streams[subjects.EVENTS_STREAM][1] if lost == "events-leader" else connected_node(cluster, agents[0])
    holder: socket.socket | None = None
    try:
        with Storm(agents):
            # batches are flowing (stored) before the kill, and the storm goes on after it
            assert eventually(lambda: all(stored_count(fleet, agent_id) > 0 for agent_id in ids), timeout=60,
                              interval=0.2)
            holder = cluster.kill_and_hold(victim)
            after_kill = repairs()
            assert eventually(lambda: all(now >= then + 20 for now, then in zip(repairs(), after_kill, strict=True)),
                              timeout=120, interval=0.2), (after_kill, repairs())
        for agent in agents:  # the last drift is repaired: nothing more happens at the source
            assert eventually(lambda agent=agent: agent.content() == "production 1\n", timeout=60)  # type: ignore[misc]

        def all_stored() -> bool:
            return all(stored_count(fleet, agent.agent.agent_id or "") == results(agent.runs()) for agent in agents)

        # each batch waits at most P (<= PERIOD_MAX) and then the outbox's retries over the failover
        assert eventually(all_stored, timeout=180, interval=0.5), [
            (stored_count(fleet, agent_id), results(agent.runs())) for agent_id, agent in zip(ids, agents, strict=True)]
        assert victim not in cluster.nodes()  # two nodes served all of it
    finally:
        if holder is not None:
            holder.close()

    source = sum(results(agent.runs()) for agent in agents)
    assert source >= AGENTS * 20
    for agent_id, agent in zip(ids, agents, strict=True):
        shown = run_partout("events", "--agent", agent_id, "--json", *fleet.operator_args())
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["totals"]["count"] == results(agent.runs())
        # each batch is in the stream once (message id = batch id) and counted once
        in_stream = batches(fleet, agent_id)
        assert len({batch.batch_id for batch in in_stream}) == len(in_stream)
        assert sum(batch.count for batch in in_stream) == results(agent.runs())
    assert "nats-server " + victim + " exited with code -9" in cluster.log("partout-nats.log")
    if lost == "agent-node":
        assert agents[0].agent.bus is not None and agents[0].agent.bus.stats().get(timeout=10).reconnects >= 1
