"""An agent publishes the fact sections the master's config asks for: by default all but
packages and services (so inventory queries can use nics, disks and mounts); a master that
asks for others tells the agent, and what it did not ask for is not stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from fleetenv import Fleet, FleetAgent, approved, running_fleet
from helpers import eventually, eventually_async

from partout import subjects
from partout.bus.connection import round_trip
from partout.facts import PUBLISHED_SECTIONS, gather
from partout.master.daemon import Master
from partout.state import read_secret
from partout.wire import decode, encode
from partout.wire.fleet import Control, FactsUpdate


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


def gathering_agent(fleet: Fleet, hostname: str) -> FleetAgent:
    """An agent with this machine's real facts (not a facts file), its root as a custom fact."""
    facts_d = fleet.directory / "facts.d" / hostname
    facts_d.mkdir(parents=True)
    (facts_d / "root.json").write_text(json.dumps({"root": str(fleet.directory / "roots" / hostname)}))
    return fleet.agent(hostname, facts_file=None, facts_d=facts_d)


def stored_facts(fleet: Fleet, agent: FleetAgent) -> dict[str, Any]:
    assert fleet.master is not None and fleet.master.store is not None
    record = fleet.master.store.get_agent(agent.agent.agent_id or "")
    return dict(record.facts) if record is not None else {}


def restart_master(fleet: Fleet, **changes: Any) -> None:
    fleet.stop_master()
    config = fleet.master_config().model_copy(update=changes)
    fleet.master = Master(type(config).model_validate(config.model_dump())).start()


def test_nics_disks_and_mounts_reach_the_store_and_packages_do_not_by_default(fleet: Fleet) -> None:
    agent = gathering_agent(fleet, "prod-7")
    assert approved(agent)
    assert eventually(lambda: "nics" in stored_facts(fleet, agent), timeout=15)
    facts = stored_facts(fleet, agent)
    here = gather(facts_d=fleet.directory / "none")
    assert set(facts) == set(PUBLISHED_SECTIONS)
    assert "127.0.0.1/8" in facts["nics"]["lo"]["addresses"]
    assert facts["disks"] == json.loads(here.model_dump_json(include={"disks"}))["disks"]
    assert facts["mounts"] == json.loads(here.model_dump_json(include={"mounts"}))["mounts"]
    assert facts["platform"] == "linux" and facts["custom"]["root"].endswith("prod-7")
    assert "packages" not in facts and "services" not in facts


def test_a_master_asking_for_packages_gets_them_from_a_running_agent(fleet: Fleet) -> None:
    agent = gathering_agent(fleet, "prod-8")
    assert approved(agent)
    assert eventually(lambda: "nics" in stored_facts(fleet, agent), timeout=15)
    restart_master(fleet, fact_sections=("hostname", "os", "custom", "packages"))
    # the agent's next facts change (or its next interval run) reaches the new master, which
    # answers with the sections it keeps
    (fleet.directory / "facts.d" / "prod-8" / "rack.json").write_text('{"rack": "b2"}')
    agent.agent.apply_now()
    assert eventually(lambda: "packages" in stored_facts(fleet, agent), timeout=15)
    assert set(stored_facts(fleet, agent)) == {"hostname", "os", "custom", "packages"}
    assert stored_facts(fleet, agent)["packages"] == gather(facts_d=fleet.directory / "none").packages


def test_sections_the_master_did_not_ask_for_are_not_stored_and_it_says_so_once(fleet: Fleet) -> None:
    """A hostile (or old) agent that floods facts with every section: nothing unasked is
    stored, and the master tells it once, not once per message."""
    agent = fleet.agent("prod-9")
    assert approved(agent)
    agent_id = agent.agent.agent_id or ""
    assert eventually(lambda: bool(stored_facts(fleet, agent)), timeout=15)
    unasked = {"hostname": "prod-9", "packages": {"evil": "1.0"}, "services": {}, "marker": 1}

    async def flood() -> list[Control]:
        seed = read_secret(fleet.nats_state / "keys" / "master.nk").decode().strip()
        watcher = await nats.connect(fleet.urls, nkeys_seed_str=seed)
        told = await watcher.subscribe(subjects.agent_control(agent_id))
        await round_trip(watcher)
        agent_seed = read_secret(agent.agent.config.state_dir / "agent.nk").decode().strip()
        connection = await nats.connect(fleet.urls, nkeys_seed_str=agent_seed, allow_reconnect=False,
                                        inbox_prefix=subjects.inbox_prefix(agent_id))
        for _ in range(20):
            update = FactsUpdate(agent_id=agent_id, facts=unasked, facts_hash="x")
            await connection.publish(subjects.agent_facts(agent_id), encode(update))
        await round_trip(connection)
        await eventually_async(lambda: stored_facts(fleet, agent).get("marker") == 1)
        controls: list[Control] = []
        while True:
            try:
                message = await told.next_msg(timeout=1.0)
            except nats.errors.TimeoutError:
                break
            control = decode(Control, message.data)
            if control is not None and control.command == "facts":
                controls.append(control)
        await connection.close()
        await watcher.close()
        return controls

    controls = asyncio.run(flood())
    facts = stored_facts(fleet, agent)
    assert "packages" not in facts and "services" not in facts and facts["hostname"] == "prod-9"
    assert len(controls) == 1
    assert controls[0].parameters["sections"] == sorted(PUBLISHED_SECTIONS)


def test_an_agent_cannot_change_what_another_agent_publishes(fleet: Fleet) -> None:
    mine, other = fleet.agent("prod-1"), fleet.agent("prod-2")
    assert approved(mine) and approved(other)
    errors: list[str] = []

    async def forge() -> None:
        async def collect(error: Exception) -> None:
            errors.append(str(error))

        seed = read_secret(mine.agent.config.state_dir / "agent.nk").decode().strip()
        connection = await nats.connect(fleet.urls, nkeys_seed_str=seed, error_cb=collect, allow_reconnect=False,
                                        inbox_prefix=subjects.inbox_prefix(mine.agent.agent_id or ""))
        forged = Control(command="facts", parameters={"sections": ["hostname", "packages"]})
        await connection.publish(subjects.agent_control(other.agent.agent_id or ""), encode(forged))
        await round_trip(connection)
        await eventually_async(lambda: any("permissions violation" in error.lower() for error in errors))
        await connection.close()

    asyncio.run(forge())
    assert any("permissions violation for publish" in error.lower() for error in errors)
    other.agent.apply_now()
    assert eventually(lambda: len([r for r in other.runs() if r.report.trigger == "control"]) == 1, timeout=15)
    assert "packages" not in stored_facts(fleet, other)
