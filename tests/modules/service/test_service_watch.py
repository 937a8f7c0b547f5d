"""Real-time repair of a sysv service: an LSB init script in a temp root runs a real
sleeping daemon with a pid file; killing the daemon gets it started again within the
watch interval, and a service the policy does not manage stays dead."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import eventually
from module_support import watching

SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
### END INIT INFO
PIDFILE={run}/{name}.pid
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         sleep 3600 >/dev/null 2>&1 </dev/null &
         echo $! > "$PIDFILE" ;;
  stop) running && kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE" ;;
  restart) "$0" stop; "$0" start ;;
  status) running && exit 0 || exit 3 ;;
  *) echo "Usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
"""


def pid_of(root: Path, name: str) -> int | None:
    try:
        pid = int((root / "run" / f"{name}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # not our child (the script forked it): reaped by init
    except ChildProcessError:
        pass


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    (root / "etc" / "init.d").mkdir(parents=True)
    (root / "run").mkdir()
    for name in ("tiny", "other"):
        script = root / "etc" / "init.d" / name
        script.write_text(SCRIPT.format(name=name, run=root / "run"))
        script.chmod(0o755)
    yield root
    for name in ("tiny", "other"):
        pid = pid_of(root, name)
        if pid is not None:
            kill(pid)


def dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")  # a zombie is dead too
    except (FileNotFoundError, IndexError):
        return True


def test_a_killed_sysv_daemon_is_started_again_and_others_are_left_alone(root: Path, tmp_path: Path) -> None:
    subprocess.run([str(root / "etc" / "init.d" / "other"), "start"], check=True)  # running, not the policy's
    other = pid_of(root, "other")
    assert other is not None
    policy = f'p2.service("tiny", ensure="running", provider="sysv", root="{root}", watch_interval=0.2, watch=True)\n'
    with watching(policy, tmp_path) as (report, repairs):
        assert not report.failed, report
        first = pid_of(root, "tiny")
        assert first is not None
        kill(first)
        kill(other)
        assert eventually(lambda: dead(first) and pid_of(root, "tiny") not in (None, first), timeout=20)
        assert eventually(lambda: repairs.of("service:tiny") != [])
        assert repairs.of("service:tiny")[0].summary == "start tiny"
        assert pid_of(root, "other") is None
        assert repairs.ids() == {"service:tiny"}
