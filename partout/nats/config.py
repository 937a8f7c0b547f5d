"""nats-server configuration text for one node of a Partout backbone.

Accounts (no operator/JWT resolver needed, all in the config file):
  AUTH     the callout responder's static nkey user, nothing else
  PARTOUT  everyone else (master, operators, agents, readers), JetStream on; users are
           placed here by the auth callout's user JWT (`aud: PARTOUT`)
  SYS      the system account
Every connection except the callout service user is sent to the auth callout.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from partout.nats.keys import Keys

CLUSTER_NAME = "partout"
ROUTE_USER = "partout-route"


class TlsFiles(BaseModel):
    """Server TLS files; with `ca` set, clients must present a certificate signed by it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cert: Path
    key: Path
    ca: Path | None = None


class NodeConfig(BaseModel):
    """What differs between the nodes of one backbone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Server name, unique in the cluster (JetStream needs it).")
    host: str = Field("127.0.0.1", description="Address clients connect to.")
    port: int = Field(4222, ge=0, le=65535)
    store_dir: Path = Field(description="JetStream file storage of this node.")
    cluster_host: str = Field("127.0.0.1", description="Address routes listen on.")
    cluster_port: int | None = Field(None, ge=0, le=65535, description="None: no cluster.")
    routes: tuple[str, ...] = Field((), description="host:port of every node's route listener.")
    tls: TlsFiles | None = None
    monitor_port: int | None = Field(None, description="HTTP monitoring port, off when None.")


def _quote(value: object) -> str:
    return json.dumps(str(value))


def render(node: NodeConfig, keys: Keys) -> str:
    """The nats-server configuration file for `node`."""
    lines = [
        "# Written by partout-nats; regenerated on every start, edits are lost.",
        f"server_name: {_quote(node.name)}",
        f"listen: {_quote(f'{node.host}:{node.port}')}",
        "max_payload: 8MB",
        f"jetstream {{ store_dir: {_quote(node.store_dir)} }}",
        "accounts {",
        f"  AUTH {{ users: [ {{ nkey: {_quote(keys.callout_service.public)} }} ] }}",
        "  PARTOUT { jetstream: enabled }",
        "  SYS {}",
        "}",
        "system_account: SYS",
        "authorization {",
        "  auth_callout {",
        f"    issuer: {_quote(keys.callout_issuer.public)}",
        f"    auth_users: [ {_quote(keys.callout_service.public)} ]",
        "    account: AUTH",
        "  }",
        "}",
    ]
    if node.monitor_port is not None:
        lines.append(f"http: {_quote(f'{node.host}:{node.monitor_port}')}")
    if node.tls is not None:
        lines += ["tls {", f"  cert_file: {_quote(node.tls.cert)}", f"  key_file: {_quote(node.tls.key)}"]
        if node.tls.ca is not None:
            lines += [f"  ca_file: {_quote(node.tls.ca)}", "  verify: true"]
        lines.append("}")
    if node.cluster_port is not None:
        routes = ", ".join(
            _quote(f"nats-route://{ROUTE_USER}:{keys.route_password}@{route}") for route in node.routes
        )
        lines += [
            "cluster {",
            f"  name: {_quote(CLUSTER_NAME)}",
            f"  listen: {_quote(f'{node.cluster_host}:{node.cluster_port}')}",
            f"  authorization {{ user: {_quote(ROUTE_USER)}, password: {_quote(keys.route_password)} }}",
            f"  routes: [ {routes} ]",
        ]
        if node.tls is not None:
            lines += [
                "  tls {",
                f"    cert_file: {_quote(node.tls.cert)}",
                f"    key_file: {_quote(node.tls.key)}",
            ]
            if node.tls.ca is not None:
                lines += [f"    ca_file: {_quote(node.tls.ca)}", "    verify: true"]
            lines.append("  }")
        lines.append("}")
    return "\n".join(lines) + "\n"
