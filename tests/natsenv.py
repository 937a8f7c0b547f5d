"""Reusable NATS fixtures: a secured partout-nats backbone in a temp state dir on free ports,
with a callout responder answering from a static table of identities.

    from natsenv import secured_backbone

    with secured_backbone(tmp_path) as env:
        agent = env.identity(Role.AGENT, permissions.agent("web1", "prod"), inbox="web1")
        bus = Bus.start(env.bus_options(agent))
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys

from partout import subjects
from partout.nats import permissions
from partout.master.callout import CALLOUT_CONNECTION, CalloutActor
from partout.master.supervisor import Ready
from partout.nats.callout import AuthorizationRequest, CalloutResponder, Decision
from partout.nats.config import TlsFiles
from partout.nats.jwt import create_key
from partout.nats.launcher import Backbone, start_backbone
from partout.bus.messages import BusOptions
from partout.nats.permissions import Permissions, Role
from partout.state import write_secret


@dataclass(frozen=True)
class Identity:
    public: str
    seed_file: Path
    inbox_prefix: str = subjects.DEFAULT_INBOX


class NatsEnv:
    """A running backbone, its callout responder, and identities the responder accepts."""

    def __init__(self, backbone: Backbone, key_dir: Path) -> None:
        self.backbone = backbone
        self.key_dir = key_dir
        self.table: dict[str, tuple[Role, Permissions]] = {}
        self.requests: list[AuthorizationRequest] = []
        self.responder: Any = None  # the CalloutActor's ref
        self.master = Identity(backbone.keys.master.public, backbone.keys.master.path)
        self.table[self.master.public] = (Role.MASTER, permissions.master())

    @property
    def urls(self) -> list[str]:
        return self.backbone.urls

    def authorize(self, request: AuthorizationRequest) -> Decision:
        self.requests.append(request)
        entry = self.table.get(request.public_key)
        if entry is None:
            return Decision.refuse("unknown nkey")
        return Decision.allow(entry[0], entry[1])

    def start_responder(self) -> None:
        # the master's callout actor (its own bus, as the callout service user) with a static table
        keys = self.backbone.keys
        tls = self.backbone.nodes[0].config.tls
        options = BusOptions(servers=tuple(self.urls), name=CALLOUT_CONNECTION, seed_file=keys.callout_service.path,
                             tls_ca=(tls.ca or tls.cert) if tls is not None else None)
        self.responder = CalloutActor.start(options, CalloutResponder(keys.callout_issuer.signer(), self.authorize))
        self.responder.ask(Ready(), timeout=15)

    def stop_responder(self) -> None:
        if self.responder is not None and self.responder.is_alive():
            self.responder.stop(timeout=10)

    def identity(self, role: Role | None, rights: Permissions | None = None, *, inbox: str | None = None,
                 name: str = "") -> Identity:
        """A fresh user nkey with its seed in a 0600 file; known to the responder unless role is None."""
        key = create_key(nkeys.PREFIX_BYTE_USER)
        public = key.public_key.decode("ascii")
        path = self.key_dir / f"{name or public[:12]}.nk"
        write_secret(path, bytes(key.seed) + b"\n")
        if role is not None and rights is not None:
            self.table[public] = (role, rights)
        return Identity(public, path, subjects.inbox_prefix(inbox) if inbox else subjects.DEFAULT_INBOX)

    def bus_options(self, identity: Identity | None = None, **overrides: Any) -> BusOptions:
        identity = identity or self.master
        fields: dict[str, Any] = dict(servers=tuple(self.urls), seed_file=identity.seed_file,
                                      inbox_prefix=identity.inbox_prefix)
        fields.update(overrides)
        return BusOptions(**fields)


@contextmanager
def secured_backbone(directory: Path, *, cluster_size: int = 1, tls: TlsFiles | None = None) -> Iterator[NatsEnv]:
    """Start a secured backbone (free ports, node output in <dir>/nats/logs) and a callout responder."""
    state = directory / "nats"
    backbone = start_backbone(state, port=0, cluster_size=cluster_size, log_to_files=True, tls=tls)
    key_dir = directory / "identities"
    key_dir.mkdir(mode=0o700, exist_ok=True)
    env = NatsEnv(backbone, key_dir)
    try:
        env.start_responder()
        yield env
    finally:
        try:
            env.stop_responder()
        finally:
            backbone.stop()


def self_signed_certificate(directory: Path) -> TlsFiles:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command."""
    import subprocess

    cert, key = directory / "server.pem", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return TlsFiles(cert=cert, key=key)


def stream_replicas(urls: list[str], seed_file: Path) -> dict[str, tuple[int, str]]:
    """Partout's streams and policy bucket -> (replicas, leader node), read with `seed_file`'s key."""
    import nats

    from partout.state import read_secret

    async def read() -> dict[str, tuple[int, str]]:
        connection = await nats.connect(urls, nkeys_seed_str=read_secret(seed_file).decode().strip())
        try:
            jetstream = connection.jetstream(timeout=5)
            found = {}
            for name in (subjects.EVENTS_STREAM, subjects.REPORTS_STREAM, f"KV_{subjects.POLICY_BUCKET}"):
                info = await jetstream.stream_info(name)
                found[name] = (info.config.num_replicas or 1, info.cluster.leader or "" if info.cluster else "")
            return found
        finally:
            await connection.close()

    return asyncio.run(read())
