"""Where the running backbone is, for operator commands run without flags.

A running `partout-nats` (state `<default>/nats`) or `partout up` (backbone in
`<default>/up/nats`) holds the lock of its NATS state dir and has written `backbone.json`
there: its client URLs and the paths of its key files. `partout agents list` with no flags
finds it as `salt-key -L` finds its master; `--nats`, `--nats-state` and `--operator-key`
still override.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partout.errors import StateError
from partout.state import read_secret, write_secret
from partout.statelock import LOCK_FILE

if TYPE_CHECKING:
    from partout.nats.keys import Keys

BACKBONE_FILE = "backbone.json"
DEFAULT_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class RunningBackbone:
    state_dir: Path
    servers: tuple[str, ...]
    operator_key: Path


def connection_details(keys: Keys, urls: list[str], replicas: int, *, show_seeds: bool = False) -> dict[str, Any]:
    """What a master needs: servers, JetStream replicas, and the paths of its key files."""
    details: dict[str, Any] = {
        "servers": urls,
        "replicas": replicas,
        "master_seed_file": str(keys.master.path),
        "operator_seed_file": str(keys.operator.path),
        "callout_service_seed_file": str(keys.callout_service.path),
        "callout_issuer_seed_file": str(keys.callout_issuer.path),
        "master_public_key": keys.master.public,
        "operator_public_key": keys.operator.public,
        "callout_issuer_public_key": keys.callout_issuer.public,
    }
    if show_seeds:
        details["seeds"] = {
            name: pair.seed().decode("ascii")
            for name, pair in (("master", keys.master), ("operator", keys.operator),
                               ("callout_service", keys.callout_service), ("callout_issuer", keys.callout_issuer))
        }
    return details


def write_backbone_file(state_dir: Path, details: dict[str, Any]) -> None:
    """`backbone.json` (0600: it names key files): what operators and masters read."""
    write_secret(state_dir / BACKBONE_FILE, json.dumps(details, indent=2).encode() + b"\n")


def read_backbone_file(state_dir: Path) -> dict[str, Any]:
    """The file's content, or {} when missing, malformed, or not trustworthy: it decides which
    server the operator signs requests for, so it must be ours and private (0600), as
    `write_backbone_file` makes it; anything else is ignored, not followed."""
    path = state_dir / BACKBONE_FILE
    try:
        if path.is_symlink() or path.stat().st_uid != os.geteuid():
            return {}
        data = json.loads(read_secret(path))
    except (OSError, ValueError, StateError):
        return {}
    return data if isinstance(data, dict) else {}


def is_running(state_dir: Path) -> bool:
    """True while a process holds `state_dir`'s lock (tested without taking it for long)."""
    try:
        descriptor = os.open(state_dir / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return False


def running_backbone(state_dir: Path) -> RunningBackbone | None:
    """The backbone whose NATS state is `state_dir`, if it runs and says where it listens."""
    if not is_running(state_dir):
        return None
    details = read_backbone_file(state_dir)
    servers = details.get("servers")
    if not isinstance(servers, list) or not servers:
        return None
    key = details.get("operator_seed_file") or state_dir / "keys" / "operator.nk"
    return RunningBackbone(state_dir=state_dir, servers=tuple(str(url) for url in servers), operator_key=Path(key))


def candidate_state_dirs() -> list[Path]:
    """partout-nats' default state, then `partout up`'s backbone."""
    from partout.state import default_state_dir

    base = default_state_dir()
    return [base / "nats", base / "up" / "nats"]


def find_running_backbone() -> RunningBackbone | None:
    for state_dir in candidate_state_dirs():
        if (found := running_backbone(state_dir)) is not None:
            return found
    return None


def operator_connection(nats_urls: tuple[str, ...] | list[str], nats_state: Path | None,
                        operator_key: Path | None) -> tuple[list[str], Path]:
    """(servers, operator key file): the flags where given, else what a running local backbone
    wrote, else the defaults (nats://127.0.0.1:4222, <default>/nats/keys/operator.nk)."""
    from partout.state import default_state_dir

    if nats_state is None:
        running = find_running_backbone()
        if running is not None:
            return list(nats_urls) or list(running.servers), operator_key or running.operator_key
        nats_state = default_state_dir() / "nats"
    servers = list(nats_urls) or [str(url) for url in read_backbone_file(nats_state).get("servers") or []]
    return servers or [DEFAULT_URL], operator_key or nats_state / "keys" / "operator.nk"


__all__ = ["BACKBONE_FILE", "RunningBackbone", "find_running_backbone", "is_running", "operator_connection",
           "read_backbone_file", "running_backbone", "write_backbone_file"]
