"""The launcher's supervisor against real nats-server processes: a killed node is started
again while the others serve; one that cannot start is given up after repeated failures."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import eventually

from partout.nats.launcher import Backbone, start_backbone
from partout.nats.supervisor import Supervisor


@pytest.fixture
def backbone(tmp_path: Path) -> Iterator[Backbone]:
    started = start_backbone(tmp_path / "nats", port=0, cluster_size=2, log_to_files=True)
    try:
        yield started
    finally:
        started.stop()


def _supervise(supervisor: Supervisor) -> tuple[threading.Event, list[int], threading.Thread]:
    stopping = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run(stopping, poll=0.02)), daemon=True)
    thread.start()
    return stopping, result, thread


def test_a_killed_node_is_restarted_and_the_other_keeps_running(
        backbone: Backbone, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.nats.supervisor")
    first, second = backbone.nodes
    survivor_pid = second.process.pid if second.process else None
    stopping, result, thread = _supervise(Supervisor(backbone, first_delay=0.05))
    try:
        killed_pid = first.process.pid if first.process else None
        first.kill()
        assert eventually(lambda: first.running and first.process is not None and first.process.pid != killed_pid,
                          timeout=30)
        assert second.running and second.process is not None and second.process.pid == survivor_pid
        assert eventually(lambda: "nats-server partout-0 restarted" in caplog.text)
        assert "nats-server partout-0 exited with code -9; restarting it in 0.05 s" in caplog.text
    finally:
        stopping.set()
        thread.join(timeout=30)
    assert result == [0]
    assert not first.running and not second.running  # a clean stop stops every node


def test_a_node_that_cannot_start_is_given_up_and_the_others_keep_serving(
        backbone: Backbone, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.nats.supervisor")
    first, second = backbone.nodes
    supervisor = Supervisor(backbone, first_delay=0.01, max_delay=0.05, give_up_after=3)
    with socket.socket() as holder:
        first.kill()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", first.config.port))  # the node cannot listen again
        holder.listen()
        stopping, result, thread = _supervise(supervisor)
        try:
            assert eventually(lambda: "giving up on it" in caplog.text, timeout=30)
            assert second.running and not first.running
            assert supervisor.restarts == 0
            assert caplog.text.count(f"nats-server partout-0 did not start (port {first.config.port}") == 3
            assert ("nats-server partout-0 did not start (port" in caplog.text
                    and "it failed 4 times in a row right after starting: giving up on it" in caplog.text)
            assert not result  # one node still serves: the supervisor goes on
        finally:
            stopping.set()
            thread.join(timeout=30)
    assert result == [0]


def test_every_node_given_up_ends_the_run_with_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    backbone = start_backbone(tmp_path / "nats", port=0, log_to_files=True)
    node = backbone.nodes[0]
    supervisor = Supervisor(backbone, first_delay=0.01, max_delay=0.02, give_up_after=2)
    with socket.socket() as holder:
        node.kill()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", node.config.port))
        holder.listen()
        stopping, result, thread = _supervise(supervisor)
        thread.join(timeout=30)
    stopping.set()
    assert result == [1]
    assert "every nats-server node was given up" in caplog.text
