"""The drift cases of bench/drift.py beyond one file: a user deleted, a package removed
(dpkg on a temp root, pip in a virtualenv), a sysv daemon killed, and a fight over a
file. Each runs its own `partout apply --watch --json` on a temp root and measures from
the moment the drift is done (the tool returned, the process was killed) to the moment
the managed state is back, polled every half millisecond."""

from __future__ import annotations

import ctypes
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "modules" / "package"))
from conftest import build_deb, make_wheel  # noqa: E402  (the tests' own package builders)

TICKS = os.sysconf("SC_CLK_TCK")
# Independent drifts, not a fight: spaced so that the default flap limit (a burst of 5,
# then 1 repair/s) never holds a repair back; the flap case measures the limit itself.
GAP = 1.1
PR_SET_CHILD_SUBREAPER = 36


class Watching:
    """A `partout apply --watch --json` process and the repair reports it printed."""

    def __init__(self, policy: Path, state: Path, options: tuple[str, ...] = ()) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "partout", "apply", "--watch", "--json", *options, "--state-dir", str(state),
             str(policy)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first:
            raise SystemExit(f"partout apply --watch {policy} exited before its first report")
        self.results: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.5)  # the watch is armed right after the first report

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.results.extend(json.loads(line)["results"])

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextmanager
def watching(directory: Path, policy_text: str) -> Iterator[Watching]:
    policy = directory / "site.p2"
    policy.write_text(policy_text)
    state = directory / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    session = Watching(policy, state)
    try:
        yield session
    finally:
        session.stop()


def time_to(condition: Callable[[], bool], timeout: float = 30.0) -> float | None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if condition():
            return time.perf_counter() - started
        time.sleep(0.0005)
    return None


def repeat(n: int, drift: Callable[[], None], repaired: Callable[[], bool], gap: float) -> tuple[list[float], int]:
    times: list[float] = []
    missed = 0
    for _ in range(n):
        drift()
        took = time_to(repaired)
        if took is None:
            missed += 1
        else:
            times.append(took)
        time.sleep(gap + random.uniform(0, 0.5))  # never in step with a poll interval
    return times, missed


def case_user(directory: Path, n: int) -> tuple[list[float], int]:
    root = directory / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    policy = f'p2.user("alice", uid=4101, shell="/bin/sh", manage_home=False, root="{root}", watch=True)\n'
    passwd = root / "etc" / "passwd"
    with watching(directory, policy):
        return repeat(n, lambda: subprocess.run(["userdel", "--root", str(root), "alice"], check=True),
                      lambda: "\nalice:" in "\n" + passwd.read_text(), gap=GAP)


def case_dpkg(directory: Path, n: int) -> tuple[list[float], int]:
    root = directory / "root"
    admindir = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates"):
        (admindir / sub).mkdir(parents=True)
    (admindir / "status").write_text("")
    deb = build_deb(directory, "tinydeb", "1.0-1")
    policy = f'p2.package("tinydeb", provider="dpkg", source="{deb}", root="{root}", watch=True)\n'

    def installed() -> bool:
        return "Package: tinydeb\nStatus: install ok installed" in (admindir / "status").read_text()

    with watching(directory, policy):
        return repeat(n, lambda: subprocess.run(["dpkg", f"--root={root}", "--force-not-root", "--remove",
                                                 "tinydeb"], check=True, capture_output=True),
                      installed, gap=GAP)


def case_pip(directory: Path, n: int) -> tuple[list[float], int]:
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheels = directory / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinya", "1.0")
    python = venv / "bin" / "python"
    policy = (f'p2.package("tinya", provider="pip", virtualenv="{venv}", no_index=True, '
              f'find_links=["{wheels}"], watch=True)\n')
    site = next(venv.glob("lib*/python*/site-packages"))
    with watching(directory, policy):
        return repeat(n, lambda: subprocess.run([str(python), "-m", "pip", "uninstall", "--yes", "--quiet", "tinya"],
                                                check=True, capture_output=True),
                      lambda: (site / "tinya-1.0.dist-info").is_dir(), gap=GAP)


SYSV_SCRIPT = """#!/bin/sh
PIDFILE={run}/tiny.pid
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0; sleep 3600 >/dev/null 2>&1 </dev/null & echo $! > "$PIDFILE" ;;
  stop) running && kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE" ;;
  status) running && exit 0 || exit 3 ;;
esac
"""


def case_sysv(directory: Path, n: int, interval: float) -> tuple[list[float], int]:
    root = directory / "root"
    (root / "etc" / "init.d").mkdir(parents=True)
    run = root / "run"
    run.mkdir()
    script = root / "etc" / "init.d" / "tiny"
    script.write_text(SYSV_SCRIPT.format(run=run))
    script.chmod(0o755)
    policy = (f'p2.service("tiny", ensure="running", provider="sysv", root="{root}", '
              f'watch_interval={interval}, watch=True)\n')
    killed: list[int] = []
    # The daemon outlives the init script's shell; as a subreaper this process inherits it
    # and reaps it at once, as a real init does (this machine's PID 1 reaps orphans only
    # every second or so, and `kill -0` in the script's status takes a zombie for alive).
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1)

    def kill() -> None:
        pid = int((run / "tiny.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        killed.append(pid)

    def restarted() -> bool:
        try:
            pid = int((run / "tiny.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return pid not in killed

    try:
        with watching(directory, policy):
            return repeat(n, kill, restarted, gap=GAP)
    finally:
        subprocess.run([str(script), "stop"], check=False)


def case_flap(directory: Path, seconds: float, per_second: int) -> dict[str, float]:
    target = directory / "fought.conf"
    policy = f'p2.file("{target}", content="policy content\\n", watch=True)\n'
    with watching(directory, policy) as session:
        cpu_before = session.cpu_seconds()
        writes = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            with open(target, "w") as handle:
                handle.write(f"fighter {writes}\n")
            writes += 1
            time.sleep(max(0.0, started + writes / per_second - time.perf_counter()))
        elapsed = time.perf_counter() - started
        time_to(lambda: target.read_text() == "policy content\n")
        time.sleep(0.5)
        cpu = session.cpu_seconds() - cpu_before
        results = list(session.results)
    return {"writes": writes, "seconds": elapsed, "reports": len(results),
            "repairs": sum(1 for result in results if result["status"] == "changed"),
            "flapping": sum(1 for result in results if "flapping" in result["summary"]), "cpu": cpu}
