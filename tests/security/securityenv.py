"""Helpers of the attack tests: hostile plain nats-py clients with nkeys of their own or
stolen from an agent, and the check that legitimate traffic still works after each attack.
(The `fleet` fixture, a real partout-nats + master answering its auth callout, is in conftest.py.)"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nkeys

sys.path.insert(0, str(Path(__file__).parent.parent / "fleet"))

from fleetenv import Fleet, FleetAgent, approved, running_fleet  # noqa: E402,F401
from helpers import eventually  # noqa: E402

from partout import subjects  # noqa: E402
from partout.bundle import BundleError, verify_bundle  # noqa: E402
from partout.nats.jwt import create_key  # noqa: E402
from partout.state import read_secret  # noqa: E402


def new_key() -> Any:
    """A fresh user nkey pair, as an attacker makes them."""
    return nkeys.from_seed(bytearray(create_key(nkeys.PREFIX_BYTE_USER).seed))


def new_key_from_seed(seed: str) -> Any:
    return nkeys.from_seed(bytearray(seed.encode()))


def public(key_pair: Any) -> str:
    return str(key_pair.public_key.decode("ascii"))


def seed_of(key_pair: Any) -> str:
    return str(key_pair.seed.decode("ascii"))


def agent_seed(agent: FleetAgent) -> str:
    """The seed an attacker who took the agent's machine over holds."""
    return read_secret(agent.agent.config.state_dir / "agent.nk").decode().strip()


def master_seed(fleet: Fleet) -> str:
    return read_secret(fleet.nats_state / "keys" / "master.nk").decode().strip()


def operator_seed(fleet: Fleet) -> str:
    return read_secret(fleet.nats_state / "keys" / "operator.nk").decode().strip()


@dataclass
class Hostile:
    """A plain nats-py connection and the errors the server sent it (permission violations)."""

    connection: Any
    errors: list[str] = field(default_factory=list)

    def violations(self) -> str:
        return " ".join(self.errors).lower()

    async def wait_for_errors(self, count: int, timeout: float = 10.0) -> None:
        """The server reports violations asynchronously: wait for `count` of them (or the deadline)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.errors) < count and loop.time() < deadline:
            await asyncio.sleep(0.02)


async def connect(urls: list[str], seed: str, inbox: str | None = None, **options: Any) -> Hostile:
    import nats

    hostile = Hostile(None)

    async def collect(error: Exception) -> None:
        hostile.errors.append(str(error))

    hostile.connection = await nats.connect(
        urls, nkeys_seed_str=seed, error_cb=collect, allow_reconnect=False, connect_timeout=5,
        inbox_prefix=inbox or subjects.DEFAULT_INBOX, **options)
    return hostile


async def drain(subscription: Any, quiet: float = 0.3, longest: float = 5.0) -> list[Any]:
    """Everything a subscription got until `quiet` seconds pass without a message, or
    `longest` seconds in all: a watcher on `>` never goes quiet while the master's pull
    consumers ask for more every moment, and what is looked for arrives within milliseconds."""
    import time

    import nats

    received = []
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        try:
            received.append(await subscription.next_msg(timeout=quiet))
        except nats.errors.TimeoutError:
            break
    return received


def kv_value(fleet: Fleet, environment: str) -> Any:
    assert fleet.master is not None
    return fleet.master.bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key(environment)).get(timeout=10)


def kv_verifies(fleet: Fleet, environment: str) -> bool:
    """The environment's KV value is a bundle an agent would accept (signature, manifest)."""
    assert fleet.master is not None
    current = kv_value(fleet, environment)
    if current is None or not current.value:
        return False
    try:
        verify_bundle(current.value, master_public_key=fleet.master.public_key, environment=environment,
                      min_sequence=0)
    except BundleError:
        return False
    return True


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def add_integration(fleet: Fleet, name: str, role: str) -> tuple[Path, str]:
    """`partout integrations add` as an operator runs it: the seed file and the public key."""
    from helpers import run_partout

    out = fleet.directory / f"{name}.nk"
    result = run_partout("integrations", "add", name, "--role", role, "--out", str(out), *fleet.operator_args(),
                         timeout=60)
    assert result.returncode == 0, result.stderr
    public_key = result.stdout.split("public key: ")[1].split()[0]
    return out, public_key


async def as_integration(fleet: Fleet, seed_file: Path, public_key: str) -> Hostile:
    """A connection with the integration's real seed file, authenticated by the auth callout."""
    from partout.nats.keys import USER, load_seed

    seed = load_seed(seed_file, USER).decode()
    return await connect(fleet.urls, seed, subjects.inbox_prefix(public_key))


def legitimate_traffic_works(fleet: Fleet, hostname: str, content: str = "production 1\n") -> FleetAgent:
    """A real agent enrols (auto-approved), gets its policy, and its report reaches the master."""
    agent = fleet.agent(hostname)
    assert approved(agent, timeout=30), f"{hostname} was not approved"
    assert eventually(lambda: agent.content() == content, timeout=30), agent.content()
    agent_id = agent.agent.agent_id or ""
    assert eventually(lambda: bool(agent.runs()) and bool(fleet.operator.reports(agent_id)), timeout=30)
    return agent


__all__ = ["Fleet", "FleetAgent", "running_fleet", "Hostile", "add_integration", "agent_seed", "as_integration", "approved", "connect", "drain", "eventually",
           "kv_value", "kv_verifies", "legitimate_traffic_works", "master_seed", "new_key", "new_key_from_seed", "operator_seed",
           "public", "run", "seed_of"]
