"""A 3-node backbone from the real `partout-nats --cluster 3` and a real `partout master`
process against it (no replica option: everything replicated three times), and the means
to kill one node and keep it down (its port held) while the other two serve.

    with running_cluster(tmp_path) as cluster:
        victim = cluster.leader(subjects.EVENTS_STREAM)
        holder = cluster.kill_and_hold(victim)        # SIGKILL; the launcher cannot restart it
        ...
        holder.close()                                # it may come back now
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleetenv import Fleet
from helpers import eventually, stop_process
from natsenv import stream_replicas


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


def node_pids(launcher: int) -> dict[str, int]:
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


def hold_port(port: int, timeout: float = 5.0) -> socket.socket | None:
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


@dataclass
class Cluster:
    launcher: subprocess.Popen[bytes]
    fleet: Fleet
    directory: Path

    @property
    def urls(self) -> list[str]:
        return self.fleet.urls

    @property
    def state(self) -> Path:
        return self.fleet.nats_state

    @property
    def master_key(self) -> str:
        return str(json.loads((self.state / "backbone.json").read_text())["master_public_key"])

    def streams(self) -> dict[str, tuple[int, str]]:
        """Partout's streams and policy bucket -> (replicas, leader node)."""
        return stream_replicas(self.urls, self.state / "keys" / "master.nk")

    def nodes(self) -> dict[str, int]:
        return node_pids(self.launcher.pid)

    def port_of(self, node: str) -> int:
        return int(self.urls[int(node.rsplit("-", 1)[1])].rsplit(":", 1)[1])

    def node_at(self, server: str) -> str:
        """The node name (partout-N) of a server's host:port, as a bus reports it."""
        port = int(server.rsplit(":", 1)[1])
        return next(node for node in self.nodes() if self.port_of(node) == port)

    def kill_and_hold(self, node: str) -> socket.socket:
        """SIGKILL `node`'s nats-server and hold its port: it stays down until the holder closes."""
        for _ in range(3):  # should the launcher restart it before the port is held: again
            os.kill(self.nodes()[node], signal.SIGKILL)
            holder = hold_port(self.port_of(node))
            if holder is not None:
                return holder
        raise AssertionError(f"could not keep the killed node {node} down")

    def log(self, name: str) -> str:
        return (self.directory / name).read_text(errors="replace")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        stop_process(process)


@contextmanager
def running_cluster(tmp_path: Path, master_options: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """partout-nats --cluster 3 (log in partout-nats.log) and `partout master` (master.log,
    store in <tmp_path>/master) auto-approving prod-* into production."""
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
                 "--auto-approve", "prod-*=production", *master_options],
                stdout=output, stderr=output, stdin=subprocess.DEVNULL)
        started = eventually(lambda: "partout master U" in master_log.read_text(), timeout=90)
        assert started, master_log.read_text()[-3000:]
        yield Cluster(launcher, fleet, tmp_path)
    finally:
        if fleet is not None:
            fleet.close()
        _stop(master)
        _stop(launcher)
