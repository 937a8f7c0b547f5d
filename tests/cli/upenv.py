"""A real `partout up` for the tests: started on a free port with its state dir as
PARTOUT_STATE_DIR (so operator commands find it without flags), its output collected line
by line as a user sees it on a terminal, stopped with Ctrl-C (SIGINT) at the end.

    with running_up(tmp_path) as up:
        run_partout("agents", "list", env=up.env)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from helpers import eventually, stop_process

BANNER = "partout up: NATS, master and a local agent are running"


@dataclass
class RunningUp:
    process: subprocess.Popen[str]
    state: Path  # PARTOUT_STATE_DIR: up lives in <state>/up, where operator commands look
    lines: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.state / "up"

    @property
    def env(self) -> dict[str, str]:
        return {"PARTOUT_STATE_DIR": str(self.state)}

    def output(self) -> str:
        return "\n".join(list(self.lines))


def read_lines(process: subprocess.Popen[str], lines: list[str]) -> None:
    """Append each line of the process's stdout to `lines` (run in a thread)."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))


@contextmanager
def running_up(state: Path) -> Iterator[RunningUp]:
    """`partout up --port 0` with PARTOUT_STATE_DIR=state, once its first run is printed."""
    # stdout and stderr in one pipe: the order the user sees on a terminal
    process = subprocess.Popen([sys.executable, "-m", "partout", "up", "--port", "0"],
                               env={**os.environ, "PARTOUT_STATE_DIR": str(state)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = RunningUp(process, state)
    reader = threading.Thread(target=read_lines, args=(process, running.lines), daemon=True)
    reader.start()
    try:
        assert eventually(lambda: any(" run " in line and "policy 1" in line for line in running.lines),
                          timeout=90), running.output()
        yield running
    finally:
        stop_process(process, signal.SIGINT, timeout=60)
        reader.join(timeout=10)
