"""Helpers of the trigger tests: approved agents with roles put straight into a running
master's store, a watcher of every agent's control subject (with the master's key, which
may read them all), and signed trigger requests as any key would make them."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import nkeys
from helpers import eventually

from partout.bus.facade import Bus
from partout.bus.messages import BusMessage, BusOptions, GetStats
from partout.master.daemon import Master
from partout.nats.jwt import create_key
from partout.operator import OperatorClient
from partout.state import write_secret
from partout.wire import decode, encode
from partout.wire.fleet import Control
from partout.wire.triggers import TRIGGER_COMMAND, FiredTrigger, TriggerRequest, fired_triggers


def new_key() -> Any:
    return nkeys.from_seed(bytearray(create_key(nkeys.PREFIX_BYTE_USER).seed))


def public(key_pair: Any) -> str:
    return str(key_pair.public_key.decode("ascii"))


def seed_agents(master: Master, roles: dict[str, str], environment: str = "production") -> dict[str, str]:
    """hostname -> agent id of approved agents whose custom fact `role` is given."""
    ids: dict[str, str] = {}
    for hostname, role in roles.items():
        key = public(new_key())
        master.store.upsert_pending(key, hostname, {"hostname": hostname, "custom": {"role": role}})
        agent_id = master.store.approve(key, environment).agent_id
        assert agent_id is not None
        ids[hostname] = agent_id
    return ids


def signed_request(key_pair: Any, name: str, where: str = "true", data: dict[str, Any] | None = None,
                   public_key: str | None = None, **fields: Any) -> bytes:
    """A TriggerRequest signed by `key_pair` (claiming `public_key` when given: a forgery)."""
    request = TriggerRequest(public_key=public_key or public(key_pair), name=name, where=where, data=data or {},
                             nonce=fields.pop("nonce", secrets.token_hex(16)), **fields)
    return encode(request.signed_by(key_pair))


def add_integration(operator: OperatorClient, directory: Path, name: str, role: str) -> tuple[Path, Any]:
    """An integration registered by the operator: its seed file (0600) and key pair."""
    key_pair = new_key()
    seed_file = directory / f"{name}.nk"
    write_secret(seed_file, key_pair.seed)
    operator.add_integration(name, role, public(key_pair))
    return seed_file, key_pair


class ControlWatcher:
    """Every Control an agent's control subject carries, per agent id, as they arrive."""

    def __init__(self, urls: list[str], master_seed_file: Path) -> None:
        self._lock = threading.Lock()
        self.controls: list[tuple[str, Control]] = []
        self.bus = Bus.start(BusOptions(servers=tuple(urls), name="control-watcher", seed_file=master_seed_file))
        self.bus.ref.ask(GetStats(), timeout=10)
        self.bus.subscribe("partout.agent.*.control", self._heard).get(timeout=10)
        self.bus.flush().get(timeout=10)

    def _heard(self, message: BusMessage) -> None:
        agent_id = message.subject.removeprefix("partout.agent.").removesuffix(".control")
        control = decode(Control, message.data)
        if control is not None:
            with self._lock:
                self.controls.append((agent_id, control))

    def triggers(self) -> list[tuple[str, tuple[FiredTrigger, ...]]]:
        """(agent id, its fired triggers) of each Control "trigger", in order of arrival."""
        with self._lock:
            found = [(agent_id, fired_triggers(control.parameters)) for agent_id, control in self.controls
                     if control.command == TRIGGER_COMMAND]
        return [(agent_id, fired) for agent_id, fired in found if fired is not None]

    def reached(self, name: str) -> set[str]:
        return {agent_id for agent_id, fired in self.triggers() if any(one.name == name for one in fired)}

    def reached_names(self, agent_id: str) -> set[str]:
        return {one.name for heard, fired in self.triggers() if heard == agent_id for one in fired}

    def wait_for(self, name: str, agents: set[str], timeout: float = 15.0) -> bool:
        return eventually(lambda: agents <= self.reached(name), timeout=timeout)

    def close(self) -> None:
        self.bus.stop()


__all__ = ["ControlWatcher", "add_integration", "new_key", "public", "seed_agents", "signed_request"]
