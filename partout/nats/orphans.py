"""Find and stop a nats-server left running by a Partout process that died without stopping it.

`partout up` or `partout-nats` killed with SIGKILL (or by the OOM killer) cannot stop its
nats-server children; they go on holding the port and, worse, the JetStream store, which the
next start would then share with a second server. Every node we start records its pid
beside its config; the next start of that node stops whatever still runs under that pid
*with that very config file*, and only that: the state dir lock (partout.statelock) already
says no live Partout process owns this state dir, so such a server is nobody's.

    record(pid_path, process.pid)     # after starting a node
    stop_orphan(pid_path, config_path)  # before starting it: True if one was stopped
    forget(pid_path)                  # after stopping it cleanly
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from partout.errors import BusError
from partout.state import write_secret

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0


def record(pid_path: Path, pid: int) -> None:
    write_secret(pid_path, f"{pid}\n".encode())


def forget(pid_path: Path) -> None:
    pid_path.unlink(missing_ok=True)


def _recorded_pid(pid_path: Path) -> int | None:
    try:
        text = pid_path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("cannot read %s: %s", pid_path, error.strerror)
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def _command_line(pid: int) -> list[str] | None:
    """The process's argv, or None when it is gone (or is a zombie: it holds nothing)."""
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").exists():
        try:
            raw = (proc / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None
    try:  # no procfs (macOS, the BSDs): ask ps
        output = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        return None
    return output.split() or None


def _is_our_server(argv: list[str], config_path: Path) -> bool:
    return (bool(argv) and Path(argv[0]).name == "nats-server"
            and any(argv[index:index + 2] == ["-c", str(config_path)] for index in range(len(argv) - 1)))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    argv = _command_line(pid)
    return argv is None  # a zombie (reaped by init soon) holds neither port nor store


def stop_orphan(pid_path: Path, config_path: Path, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the nats-server recorded in `pid_path` if it still runs with `config_path`:
    SIGTERM (it flushes JetStream), SIGKILL after `timeout`. True if there was one."""
    pid = _recorded_pid(pid_path)
    argv = _command_line(pid) if pid is not None else None
    if pid is None or argv is None or not _is_our_server(argv, config_path):
        forget(pid_path)  # stale: that process is gone, or the pid now belongs to another program
        return False
    log.warning("stopping nats-server pid %d, left running on %s by a Partout process that died without "
                "stopping it", pid, config_path, extra={"pid": pid, "config": str(config_path)})
    for stop_signal in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, stop_signal)
        except ProcessLookupError:
            break
        except PermissionError as error:
            raise BusError(f"nats-server pid {pid} still runs on {config_path} and cannot be stopped "
                           f"({error.strerror}); stop it, then start again") from error
        if _wait_gone(pid, timeout):
            break
    else:
        raise BusError(f"nats-server pid {pid} still runs on {config_path} after SIGKILL; stop it, then start again")
    forget(pid_path)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


__all__ = ["forget", "record", "stop_orphan"]
