"""Shared by the operator-side attack tests (resolution, terminal injection, revoked agents):
a real fleet (partout-nats + master + in-process agents, tests/fleet/fleetenv.py) and a
hostile client made with plain nats-py and nkeys (tests/master/test_master_support.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nkeys
import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("fleet", "master"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from fleetenv import Fleet, FleetAgent, approved, running_fleet  # noqa: E402
from helpers import eventually, run_partout  # noqa: E402
from test_master_support import AgentKey, connect_as, enrol, new_agent_key  # noqa: E402

from partout import subjects  # noqa: E402
from partout.nats.jwt import create_key  # noqa: E402
from partout.state import write_secret  # noqa: E402

__all__ = ["AgentKey", "Fleet", "FleetAgent", "approved", "cli", "connect_as", "enrol", "eventually", "fleet",
           "key_sharing_prefix", "new_agent_key", "publish_as", "wait_pending"]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


def cli(fleet: Fleet, *args: str) -> Any:
    """The real operator CLI in a child process, as an operator runs it."""
    return run_partout(*args, *fleet.operator_args(), timeout=60)


def key_sharing_prefix(directory: Path, public_key: str, length: int = 4) -> AgentKey:
    """A rogue's own key whose public key starts like `public_key` (a vanity key: 32**3
    tries on average for 4 characters, a second or two)."""
    prefix = public_key[:length].encode()
    while True:
        key = create_key(nkeys.PREFIX_BYTE_USER)
        pair = nkeys.from_seed(bytearray(key.seed))
        if pair.public_key.startswith(prefix):
            path = directory / f"rogue-{pair.public_key.decode()[:8]}.nk"
            write_secret(path, bytes(key.seed) + b"\n")
            return AgentKey(pair, path)


def wait_pending(fleet: Fleet, public_key: str) -> bool:
    return eventually(lambda: any(agent["public_key"] == public_key
                                  for agent in fleet.operator.agents(status="pending")), timeout=20)


def publish_as(fleet: Fleet, key: AgentKey, agent_id: str, subject: str, payload: dict[str, Any]) -> None:
    """Publish as an approved agent's key (a taken-over agent) to a JetStream subject it may use."""

    async def run() -> None:
        connection = await connect_as(fleet.urls, key, agent_id)
        try:
            stream = connection.jetstream()
            await stream.publish(subject, json.dumps(payload).encode(), timeout=10)
        finally:
            await connection.close()

    asyncio.run(run())


_ = subjects  # re-exported for the tests' subject names
