"""A 3-node backbone from the real `partout-nats --cluster 3` and the real `partout master`
run with no replica option: everything is replicated three times, a node killed under a
stream of reports loses none of them, the other two keep serving policy, and the launcher
starts the killed node again."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fleetenv import Fleet, approved
from helpers import eventually
from natsenv import stream_replicas

from partout import subjects
from partout.agent.outbox import ReportOutbox
from partout.agent.reports import wrap
from partout.bus.facade import Bus
from partout.bus.messages import BusOptions
from partout.report import Report

REPORTS = 1_000


@dataclass
class LauncherBackbone:
    """What Fleet needs of a backbone, for one run by the partout-nats command."""

    state_dir: Path
    urls: list[str]

    def stop(self) -> None:
        pass


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _node_pids(launcher: int) -> dict[str, int]:
    """Node name (partout-N, from its config file name) -> pid of its nats-server."""
    found = {}
    for pid in _children(launcher):
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        configs = [Path(argument.decode()).stem for argument in arguments if argument.endswith(b".conf")]
        if configs:
            found[configs[0]] = pid
    return found


def _hold_port(port: int, timeout: float = 5.0) -> socket.socket | None:
    """Listen on `port` as soon as the killed node has let it go, so its restart must wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = socket.socket()
        # as the launcher's own check does: connections in TIME_WAIT do not hold the port
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen()
            return holder
        except OSError:
            holder.close()
            time.sleep(0.001)
    return None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Fleet, Path]]:
    state = tmp_path / "nats"
    launcher_log = tmp_path / "partout-nats.log"
    with launcher_log.open("ab") as output:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "partout.cli.nats", "--state-dir", str(state), "--port", "0", "--cluster", "3"],
            stdout=output, stderr=output, stdin=subprocess.DEVNULL)
    master: subprocess.Popen[bytes] | None = None
    fleet: Fleet | None = None
    try:
        ready = eventually(lambda: (state / "backbone.json").exists(), timeout=60)
        assert ready, launcher_log.read_text()[-3000:]
        urls = json.loads((state / "backbone.json").read_text())["servers"]
        fleet = Fleet(tmp_path, LauncherBackbone(state, urls))  # type: ignore[arg-type]
        (tmp_path / "sample-facts.json").write_text(json.dumps({"hostname": "sample",
                                                               "custom": {"root": "/tmp/partout-sample"}}))
        fleet.write_policy("production", "production 1\n")
        master_log = tmp_path / "master.log"
        with master_log.open("ab") as output:
            master = subprocess.Popen(
                [sys.executable, "-m", "partout", "master", *[option for url in urls for option in ("--nats", url)],
                 "--nats-state", str(state), "--state-dir", str(tmp_path / "master"),
                 "--environments", str(fleet.environments), "--sample-facts", str(tmp_path / "sample-facts.json"),
                 "--auto-approve", "prod-*=production"],
                stdout=output, stderr=output, stdin=subprocess.DEVNULL)
        started = eventually(lambda: "partout master U" in master_log.read_text(), timeout=90)
        assert started, master_log.read_text()[-3000:]
        yield launcher, fleet, tmp_path
    finally:
        if fleet is not None:
            fleet.close()
        for process in (master, launcher):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("lost", [subjects.REPORTS_STREAM, f"KV_{subjects.POLICY_BUCKET}"],
                         ids=["reports-leader", "policy-leader"])
def test_a_three_node_cluster_loses_no_report_and_keeps_serving_policy_when_a_node_is_killed(
        cluster: tuple[subprocess.Popen[bytes], Fleet, Path], lost: str) -> None:
    launcher, fleet, directory = cluster
    state, urls = fleet.nats_state, fleet.urls
    master_seed = state / "keys" / "master.nk"
    master_key = json.loads((state / "backbone.json").read_text())["master_public_key"]

    streams = stream_replicas(urls, master_seed)
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
    victim_port = int(urls[int(victim.rsplit("-", 1)[1])].rsplit(":", 1)[1])
    holder: socket.socket | None = None
    try:
        for number in range(REPORTS):
            report = wrap(Report(policy="cluster test", hostname="prod-web1", started_at=datetime.now(timezone.utc),
                                 trigger=f"report {number}"),
                          agent_id=agent_id, environment="production", sequence=1, digest="")
            outbox.send(report)
            sent.add(report.report_id)
            if number == REPORTS // 3:
                for _ in range(3):  # should the launcher restart it before the port is held: again
                    os.kill(_node_pids(launcher.pid)[victim], signal.SIGKILL)
                    holder = _hold_port(victim_port)
                    if holder is not None:
                        break
                assert holder is not None, "could not keep the killed node down"
            if number % 50 == 0:
                outbox.check()

        def all_acknowledged() -> bool:
            outbox.check()
            return len(outbox) == 0

        assert eventually(all_acknowledged, timeout=180, interval=0.2)
        assert victim not in _node_pids(launcher.pid)  # still down: two nodes served all of that

        # the other two serve policy: a new one reaches the agent
        fleet.write_policy("production", "production 2\n")
        assert eventually(lambda: agent.content() == "production 2\n", timeout=90)
        assert victim not in _node_pids(launcher.pid)
    finally:
        reporter.stop()
        if holder is not None:
            holder.close()

    launcher_log = (directory / "partout-nats.log").read_text()
    assert f"nats-server {victim} exited with code -9; restarting it in" in launcher_log
    assert f"nats-server {victim} did not start (port {victim_port} on 127.0.0.1 is already in use" in launcher_log
    # the port is free again: the launcher starts the node on its next attempt
    assert eventually(lambda: victim in _node_pids(launcher.pid), timeout=60)
    assert eventually(lambda: f"nats-server {victim} restarted" in (directory / "partout-nats.log").read_text(),
                      timeout=30)
    assert launcher.poll() is None and len(_node_pids(launcher.pid)) == 3

    def stored() -> set[str]:
        with sqlite3.connect(f"file:{directory / 'master' / 'store.sqlite'}?mode=ro", uri=True) as store:
            return {row[0] for row in store.execute("SELECT report_id FROM reports WHERE agent_id = ?",
                                                    (agent_id,))}

    assert eventually(lambda: sent <= stored(), timeout=120, interval=0.5), len(sent - stored())
    master_log = (directory / "master.log").read_text()
    assert "does not compile" not in master_log
