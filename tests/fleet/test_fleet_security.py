"""What an agent may reach: its own subjects only; nothing at all once revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from fleetenv import Fleet, FleetAgent, running_fleet
from helpers import eventually, eventually_async, run_partout

from partout import subjects
from partout.bus.connection import round_trip
from partout.state import read_secret


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


async def _connect_as(fleet: Fleet, agent: FleetAgent, errors: list[str]) -> Any:
    async def collect(error: Exception) -> None:
        errors.append(str(error))

    seed = read_secret(agent.agent.config.state_dir / "agent.nk").decode().strip()
    return await nats.connect(fleet.urls, nkeys_seed_str=seed, error_cb=collect, allow_reconnect=False,
                              inbox_prefix=subjects.inbox_prefix(agent.agent.agent_id or ""), connect_timeout=3)


def test_an_agent_can_publish_to_its_own_subjects_only(fleet: Fleet) -> None:
    mine, other = fleet.agent("prod-1"), fleet.agent("prod-2")
    assert eventually(lambda: mine.content() is not None and other.content() is not None, timeout=15)
    assert mine.agent.agent_id and other.agent.agent_id

    async def probe() -> tuple[list[str], list[str]]:
        errors: list[str] = []
        watcher = await nats.connect(fleet.urls, nkeys_seed_str=read_secret(
            fleet.nats_state / "keys" / "master.nk").decode().strip())
        seen = await watcher.subscribe("partout.>")
        await round_trip(watcher)
        connection = await _connect_as(fleet, mine, errors)
        await connection.publish(subjects.agent_facts(other.agent.agent_id or ""), b"forged")
        await connection.publish(subjects.trigger("anything"), b"forged")
        await connection.subscribe(subjects.agent_control(other.agent.agent_id or ""))
        await connection.subscribe("partout.>")
        # last, on a subject it may use: NATS keeps one publisher's order, so once this
        # arrives every forged message that got through would have arrived before it
        await connection.publish(subjects.agent_events(mine.agent.agent_id or ""), b"mine")
        await round_trip(connection)
        received: list[str] = []
        while subjects.agent_events(mine.agent.agent_id or "") not in received:
            try:
                message = await seen.next_msg(timeout=10)
            except nats.errors.TimeoutError:
                break
            if message.data in (b"forged", b"mine"):
                received.append(message.subject)
        # each refusal is an -ERR that reaches error_cb on its own task
        forged_facts = subjects.agent_facts(other.agent.agent_id or "").lower()
        await eventually_async(lambda: all(word in " ".join(errors).lower() for word in ("subscription", forged_facts)))
        await connection.close()
        await watcher.close()
        return errors, received

    errors, received = asyncio.run(probe())
    assert received == [subjects.agent_events(mine.agent.agent_id)]
    violations = " ".join(errors).lower()
    assert "permissions violation for publish" in violations
    assert "permissions violation for subscription" in violations
    assert subjects.agent_facts(other.agent.agent_id).lower() in violations


def test_a_revoked_agent_is_disconnected_and_refused_from_then_on(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n", timeout=15)
    agent_id = agent.agent.agent_id or ""
    result = run_partout("agents", "revoke", agent_id, *fleet.operator_args())
    assert result.returncode == 0, result.stderr
    assert eventually(lambda: fleet.operator.show(agent_id)["status"] == "revoked")
    assert eventually(lambda: agent.agent.connection_state() in ("disconnected", "closed", "connecting", "refused"),
                      timeout=10)

    async def connect() -> str:
        try:
            connection = await _connect_as(fleet, agent, [])
        except Exception as error:
            return str(error)
        await connection.close()
        return "connected"

    assert "Authorization Violation" in asyncio.run(connect())
    fleet.write_policy("production", "production 2\n")  # no longer reaches the revoked agent
    later = fleet.agent("prod-2")
    assert eventually(lambda: later.content() == "production 2\n", timeout=15)
    assert agent.content() == "production 1\n"
