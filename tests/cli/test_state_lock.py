"""One process per state dir: a second `partout-nats`, `master` or `agent` on a state dir in
use exits 2 naming the running one; a killed one leaves no stale lock."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import eventually, run_partout, stop_process

from partout.nats.discovery import is_running, read_backbone_file
from partout.statelock import StateDirInUse, lock_state_dir, read_holder

UNREACHABLE = "nats://127.0.0.1:1"


@contextmanager
def background(arguments: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, *arguments], stdout=output, stderr=output,
                                   stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop_process(process)


def agent_arguments(state: Path) -> list[str]:
    return ["-m", "partout", "agent", "--state-dir", str(state), "--nats", UNREACHABLE, "--hostname", "lock-test"]


def test_a_second_agent_on_a_state_dir_exits_2_naming_the_first(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    with background(agent_arguments(state), tmp_path / "first.log") as first:
        assert eventually(lambda: is_running(state), timeout=30)
        second = run_partout("agent", "--state-dir", str(state), "--nats", UNREACHABLE)
        assert second.returncode == 2, second.stderr
        assert f"in use by `partout agent` (pid {first.pid}, NATS {UNREACHABLE})" in second.stderr
        assert "--state-dir" in second.stderr
        assert first.poll() is None


def test_a_killed_agent_leaves_no_stale_lock(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    with background(agent_arguments(state), tmp_path / "first.log") as first:
        assert eventually(lambda: is_running(state), timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert read_holder(state)["pid"] == first.pid  # what it wrote stays, and means nothing now
    assert not is_running(state)
    with lock_state_dir(state, command="test"):
        assert is_running(state)


def test_the_lock_is_refused_in_process_too_and_names_the_holder(tmp_path: Path) -> None:
    with lock_state_dir(tmp_path, command="partout master") as held:
        held.describe(nats_url="nats://127.0.0.1:4999")
        try:
            lock_state_dir(tmp_path, command="partout master")
        except StateDirInUse as error:
            assert "pid" in str(error) and "NATS nats://127.0.0.1:4999" in str(error)
            assert error.exit_code == 2
        else:
            raise AssertionError("a second lock was granted")
    with lock_state_dir(tmp_path, command="again"):
        pass


def test_a_second_partout_nats_on_a_state_dir_exits_2(tmp_path: Path) -> None:
    state = tmp_path / "nats"
    arguments = ["-m", "partout.cli.nats", "--state-dir", str(state), "--port", "0"]
    with background(arguments, tmp_path / "nats.log") as first:
        assert eventually(lambda: bool(read_backbone_file(state).get("servers")), timeout=60), \
            (tmp_path / "nats.log").read_text()
        url = read_backbone_file(state)["servers"][0]
        second = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"in use by `partout-nats` (pid {first.pid}, NATS {url})" in second.stderr
        assert first.poll() is None
        assert read_backbone_file(state)["servers"] == [url]  # the first one's file, untouched


def test_a_backbone_file_others_could_have_written_is_not_followed(tmp_path: Path) -> None:
    from partout.nats.discovery import BACKBONE_FILE, operator_connection

    state = tmp_path / "nats"
    state.mkdir(mode=0o700)
    planted = state / BACKBONE_FILE
    planted.write_text('{"servers": ["nats://evil.example:4222"], "operator_seed_file": "/tmp/evil.nk"}')
    planted.chmod(0o666)
    servers, key = operator_connection((), state, None)
    assert servers == ["nats://127.0.0.1:4222"] and key == state / "keys" / "operator.nk"
    planted.chmod(0o600)  # the same file, private: it is what partout-nats wrote
    assert operator_connection((), state, None)[0] == ["nats://evil.example:4222"]
