"""An integration made by `partout integrations add --role reader`, connecting with its real
seed file through the master's auth callout, sees the node event of a real drift repair
(`partout.node.<agent>.file.changed`, naming the file and the repair), is refused every
publish it tries, and its subscription goes on delivering the next repair."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_events_support import drift, events_fleet, new_batches, started
from fleetenv import Fleet, FleetAgent

from partout import subjects
from partout.bus.connection import round_trip
from partout.events.wire import MAX_MESSAGE_CHARS, NodeEvent

sys.path.insert(0, str(Path(__file__).parent.parent / "security"))

from securityenv import add_integration, as_integration, connect, drain, master_seed  # noqa: E402

# the fleet's master advises P = 1 s (agent_events_support.STEADY): a repair is republished
# within P after it was reported, plus the store's and the bus's time (generous under load)
REPUBLISHED_WITHIN = 1.0 + 20.0


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with events_fleet(tmp_path) as running:
        yield running


def last_repair_message(agent: FleetAgent) -> str:
    """The event message of the agent's last drift repair (its result's summary, first line)."""
    repair = [report for report in agent.runs() if report.report.trigger == "watch"][-1]
    return repair.report.results[0].summary.split("\n", 1)[0][:MAX_MESSAGE_CHARS]


async def node_event_of_repair(subscription: Any, agent: FleetAgent, message: str) -> tuple[str, NodeEvent] | None:
    """The first node event heard for this repair of the agent's watched file (or None by the deadline)."""
    import nats

    deadline = time.monotonic() + REPUBLISHED_WITHIN
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            heard = await subscription.next_msg(timeout=remaining)
        except nats.errors.TimeoutError:
            return None
        event = NodeEvent.model_validate_json(heard.data)
        if event.agent_id == agent.agent.agent_id and event.title == str(agent.motd) and event.message == message:
            return heard.subject, event
    return None


def test_a_reader_sees_a_drift_repair_as_a_node_event_and_can_publish_nothing(fleet: Fleet) -> None:
    agent = started(fleet, "prod-watched")
    agent_id = agent.agent.agent_id or ""
    new_batches(fleet, agent, 0, 1)  # the first run's outcome is stored before the reader listens
    seed_file, key = add_integration(fleet, "dashboard", "reader")
    forbidden = [subjects.trigger("x"), subjects.agent_report(agent_id), subjects.agent_events(agent_id),
                 subjects.master_api(), f"{subjects.inbox_prefix(key)}.x",
                 subjects.node_event(agent_id, "file", "changed")]

    async def scenario() -> None:
        reader = await as_integration(fleet, seed_file, key)
        watching = await connect(fleet.urls, master_seed(fleet))
        try:
            subscription = await reader.connection.subscribe(subjects.NODE_EVENTS_ALL)
            await round_trip(reader.connection)

            await asyncio.to_thread(drift, agent, "drift 1\n")
            found = await node_event_of_repair(subscription, agent, last_repair_message(agent))
            assert found is not None, "no node event for the repair"
            subject, event = found
            assert subject == subjects.node_event(agent_id, "file", "changed")
            assert (event.status.value, event.module, event.count) == ("changed", "file", 1)

            # every publish is refused by the server, and nothing of it reaches anyone
            everything = await watching.connection.subscribe(">")
            await round_trip(watching.connection)
            for target in forbidden:
                await reader.connection.publish(target, b"forged by a reader")
            await round_trip(reader.connection)
            await reader.wait_for_errors(len(forbidden))
            for target in forbidden:
                assert f'permissions violation for publish to "{target.lower()}"' in reader.violations(), target
            leaked = [message.subject for message in await drain(everything) if message.data == b"forged by a reader"]
            assert leaked == []

            # the refusals did not cost the reader its connection or its subscription
            assert reader.connection.is_connected
            await asyncio.to_thread(drift, agent, "drift 2\n")
            again = await node_event_of_repair(subscription, agent, last_repair_message(agent))
            assert again is not None and again[0] == subjects.node_event(agent_id, "file", "changed")
        finally:
            await reader.connection.close()
            await watching.connection.close()

    asyncio.run(scenario())
