"""A 3-node backbone from the real `partout-nats --cluster 3` and the real `partout master`
run with no replica option: everything is replicated three times, a node killed under a
stream of reports loses none of them, the other two keep serving policy, and the launcher
starts the killed node again."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from clusterenv import Cluster, running_cluster
from fleetenv import approved
from helpers import eventually

from partout import subjects
from partout.agent.outbox import ReportOutbox
from partout.agent.reports import wrap
from partout.bus.facade import Bus
from partout.bus.messages import BusOptions
from partout.report import Report

REPORTS = 1_000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("lost", [subjects.REPORTS_STREAM, f"KV_{subjects.POLICY_BUCKET}"],
                         ids=["reports-leader", "policy-leader"])
def test_a_three_node_cluster_loses_no_report_and_keeps_serving_policy_when_a_node_is_killed(
        cluster: Cluster, lost: str) -> None:
    fleet, directory, urls = cluster.fleet, cluster.directory, cluster.urls
    master_key = cluster.master_key

    streams = cluster.streams()
    assert {name: replicas for name, (replicas, _) in streams.items()} == {name: 3 for name in streams}

    agent = fleet.agent("prod-web1", master_key=master_key)
    assert approved(agent, timeout=60)
    assert eventually(lambda: agent.content() == "production 1\n", timeout=60)
    agent_id = agent.agent.agent_id
    assert agent_id is not None

    # the agent's report path, on a connection of its own under the agent's identity
    reporter = Bus.start(BusOptions(servers=tuple(urls), name="reporter", seed_file=fleet.directory / "agents" /
                                    "prod-web1" / "agent.nk", inbox_prefix=subjects.inbox_prefix(agent_id)))
    outbox = ReportOutbox(lambda: reporter)
    sent: set[str] = set()
    victim = streams[lost][1]  # the leader of the reports stream or of the policy bucket: the worst node to lose
    victim_port = cluster.port_of(victim)
    holder: socket.socket | None = None
    try:
        for number in range(REPORTS):
            report = wrap(Report(policy="cluster test", hostname="prod-web1", started_at=datetime.now(timezone.utc),
                                 trigger=f"report {number}"),
                          agent_id=agent_id, environment="production", sequence=1, digest="")
            outbox.send(report)
            sent.add(report.report_id)
            if number == REPORTS // 3:
                holder = cluster.kill_and_hold(victim)
            if number % 50 == 0:
                outbox.check()

        def all_acknowledged() -> bool:
            outbox.check()
            return len(outbox) == 0

        assert eventually(all_acknowledged, timeout=180, interval=0.2)
        assert victim not in cluster.nodes()  # still down: two nodes served all of that

        # the other two serve policy: a new one reaches the agent
        fleet.write_policy("production", "production 2\n")
        assert eventually(lambda: agent.content() == "production 2\n", timeout=90)
        assert victim not in cluster.nodes()
    finally:
        reporter.stop()
        if holder is not None:
            holder.close()

    launcher_log = (directory / "partout-nats.log").read_text()
    assert f"nats-server {victim} exited with code -9; restarting it in" in launcher_log
    assert f"nats-server {victim} did not start (port {victim_port} on 127.0.0.1 is already in use" in launcher_log
    # the port is free again: the launcher starts the node on its next attempt
    assert eventually(lambda: victim in cluster.nodes(), timeout=60)
    assert eventually(lambda: f"nats-server {victim} restarted" in (directory / "partout-nats.log").read_text(),
                      timeout=30)
    assert cluster.launcher.poll() is None and len(cluster.nodes()) == 3

    def stored() -> set[str]:
        with sqlite3.connect(f"file:{directory / 'master' / 'store.sqlite'}?mode=ro", uri=True) as store:
            return {row[0] for row in store.execute("SELECT report_id FROM reports WHERE agent_id = ?",
                                                    (agent_id,))}

    assert eventually(lambda: sent <= stored(), timeout=120, interval=0.5), len(sent - stored())
    master_log = (directory / "master.log").read_text()
    assert "does not compile" not in master_log
