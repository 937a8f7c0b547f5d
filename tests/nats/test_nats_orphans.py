"""A nats-server left running by a `partout-nats` (or `partout up`) killed with SIGKILL is
stopped by the next start on that state dir, and nothing else ever is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import eventually, free_port, stop_process

from partout.nats.launcher import start_backbone
from partout.nats.orphans import record, stop_orphan


def _alive(pid: int) -> bool:
    """Running, not a zombie nobody reaped yet."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@contextmanager
def partout_nats(state: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "partout.cli.nats", "--state-dir", str(state),
                                    "--port", str(port)], stdout=output, stderr=output, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop_process(process)


def ready(log: Path) -> int:
    """How many partout-nats said they were ready (after writing backbone.json)."""
    return log.read_text(errors="replace").count("partout-nats: ready on")


@contextmanager
def reaped_at_exit(pids: list[int]) -> Iterator[list[int]]:
    try:
        yield pids
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_partout_nats_leaves_a_server_the_next_start_stops(tmp_path: Path) -> None:
    state, port, log = tmp_path / "nats", free_port(), tmp_path / "partout-nats.log"
    with reaped_at_exit([]) as leftovers:
        with partout_nats(state, port, log) as first:
            assert eventually(lambda: ready(log) == 1, timeout=20), log.read_text()[-2000:]
            leftovers += _children(first.pid)
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert _alive(leftovers[0])  # what the kernel does: the orphan holds port and JetStream store
        assert (state / "config" / "partout-0.pid").stat().st_mode & 0o777 == 0o600

        with partout_nats(state, port, log) as second:
            assert eventually(lambda: not _alive(leftovers[0]), timeout=20), log.read_text()[-2000:]
            assert eventually(lambda: ready(log) == 2, timeout=20), log.read_text()[-2000:]
            assert len(_children(second.pid)) == 1
            assert json.loads((state / "backbone.json").read_text())["servers"] == [f"nats://127.0.0.1:{port}"]
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0
        output = log.read_text()
        assert f"stopping nats-server pid {leftovers[0]}" in output
        assert "already in use" not in output
    assert not (state / "config" / "partout-0.pid").exists()  # a clean stop forgets it


def test_a_recorded_pid_that_is_now_another_program_is_left_alone(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    pid_path, config = tmp_path / "partout-0.pid", tmp_path / "partout-0.conf"
    try:
        record(pid_path, sleeper.pid)
        assert stop_orphan(pid_path, config) is False
        assert sleeper.poll() is None
        assert not pid_path.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_nats_server_of_another_state_dir_is_left_alone(tmp_path: Path) -> None:
    other = start_backbone(tmp_path / "other", port=0)
    try:
        server = other.nodes[0]
        assert server.process is not None
        mine = tmp_path / "mine" / "config"
        mine.mkdir(parents=True)
        record(mine / "partout-0.pid", server.process.pid)
        assert stop_orphan(mine / "partout-0.pid", mine / "partout-0.conf") is False
        assert server.running
    finally:
        other.stop()


def test_a_garbled_pid_file_is_discarded(tmp_path: Path) -> None:
    pid_path = tmp_path / "partout-0.pid"
    for garbage in (b"", b"not a pid\n", b"1\n", b"-5\n"):
        pid_path.write_bytes(garbage)
        assert stop_orphan(pid_path, tmp_path / "partout-0.conf") is False
        assert not pid_path.exists()


def test_an_orphan_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    config = tmp_path / "partout-0.conf"
    # a stand-in with our server's command line that ignores SIGTERM (an ignored signal stays
    # ignored across exec)
    stubborn = subprocess.Popen(["bash", "-c", 'trap "" TERM; exec -a nats-server "$0" -c "import time; '
                                 'time.sleep(60)" -c "$1"', sys.executable, str(config)])
    try:
        assert eventually(lambda: Path(f"/proc/{stubborn.pid}/cmdline").read_bytes().startswith(b"nats-server"))
        record(tmp_path / "partout-0.pid", stubborn.pid)
        assert stop_orphan(tmp_path / "partout-0.pid", config, timeout=0.5) is True
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait()
