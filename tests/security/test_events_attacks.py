"""Attacks on the events subject by an approved agent gone hostile (its own nkey, the
permissions the callout grants it): another agent's subject, another agent's name in the
batch, replays, a flood of garbage, the reply-subject trick. Each fails, is counted, and
legitimate batches are still stored."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from securityenv import Fleet, connect, drain, eventually, master_seed, run

sys.path.insert(0, str(Path(__file__).parent.parent / "master"))

from event_agent import SimulatedAgent, enrolled_agent  # noqa: E402

from partout import subjects  # noqa: E402
from partout.bus.connection import round_trip
from partout.master.store.event_records import EventQuery  # noqa: E402
from partout.wire import decode, encode  # noqa: E402
from partout.wire.fleet import Control  # noqa: E402


@pytest.fixture
def hostile(fleet: Fleet) -> Iterator[SimulatedAgent]:
    agent = enrolled_agent(fleet.urls, fleet.directory, "prod-hostile")
    try:
        yield agent
    finally:
        agent.stop()


def ingest(fleet: Fleet) -> Any:
    assert fleet.master is not None
    ref = fleet.master.addresses["event-ingest"].ref
    assert ref is not None
    return ref.proxy()


def stored(fleet: Fleet, agent_id: str) -> int:
    assert fleet.master is not None
    return sum(count.count for count in fleet.master.store.event_counts(EventQuery(agent_id=agent_id)))


def test_an_agent_cannot_publish_on_another_agents_events_subject(fleet: Fleet, hostile: SimulatedAgent) -> None:
    victim = enrolled_agent(fleet.urls, fleet.directory, "prod-victim")
    try:
        async def attack() -> list[str]:
            client = await connect(fleet.urls, hostile.seed, inbox=subjects.inbox_prefix(hostile.agent_id))
            batch = victim.batch(99)  # a well-formed batch in the victim's name
            await client.connection.publish(subjects.agent_events(victim.agent_id), encode(batch))
            await round_trip(client.connection)
            await client.wait_for_errors(1)
            await client.connection.close()
            return client.errors

        errors = run(attack())
        assert any("permissions violation" in error.lower() for error in errors), errors
        victim.send(victim.batch(1))
        hostile.send(hostile.batch(2))
        assert eventually(lambda: (stored(fleet, victim.agent_id), stored(fleet, hostile.agent_id)) == (1, 2))
    finally:
        victim.stop()


def test_a_batch_in_another_agents_name_is_refused_counted_and_its_sender_told(fleet: Fleet,
                                                                               hostile: SimulatedAgent) -> None:
    hostile.send(hostile.batch(99, agent_id="victim-agent"))
    assert eventually(lambda: ingest(fleet).rejected.get()["forged"] == 1)
    assert fleet.master is not None and fleet.master.security["events.forged"] == 1
    assert eventually(lambda: any("forged" in rejection.reason for rejection in hostile.rejections()))
    assert stored(fleet, "victim-agent") == 0
    hostile.send(hostile.batch(3))
    assert eventually(lambda: stored(fleet, hostile.agent_id) == 3)


def test_a_replayed_batch_is_counted_once(fleet: Fleet, hostile: SimulatedAgent) -> None:
    batch = hostile.batch(10)
    for _ in range(5):  # a fresh message id each time gets it past the stream's duplicate window
        hostile.send(batch, message_id=uuid.uuid4().hex)
    assert eventually(lambda: ingest(fleet).batches_duplicate.get() == 4)
    assert stored(fleet, hostile.agent_id) == 10


def test_a_flood_of_garbage_is_counted_and_answered_once(fleet: Fleet, hostile: SimulatedAgent) -> None:
    async def flood() -> None:
        client = await connect(fleet.urls, hostile.seed, inbox=subjects.inbox_prefix(hostile.agent_id))
        for number in range(200):
            await client.connection.publish(subjects.agent_events(hostile.agent_id), b"\xff garbage %d" % number)
        await round_trip(client.connection)
        await client.connection.close()

    run(flood())
    assert eventually(lambda: ingest(fleet).rejected.get()["malformed"] == 200, timeout=30)
    hostile.send(hostile.batch(4))  # legitimate traffic goes on
    assert eventually(lambda: stored(fleet, hostile.agent_id) == 4)
    assert len(hostile.rejections()) == 1  # one notice per notice gap, not one per bad batch


def test_the_master_answers_no_reply_subject_a_batch_names(fleet: Fleet, hostile: SimulatedAgent) -> None:
    """The reply-subject trick: a batch with another agent's control subject (or any subject)
    as its reply. The master never publishes there; what arrives is only the stream's own
    publish acknowledgement, which an agent drops as a malformed Control."""

    async def attack() -> tuple[list[Any], list[Any]]:
        observer = await connect(fleet.urls, master_seed(fleet))
        probe = await observer.connection.subscribe("partout.probe")
        victim = await observer.connection.subscribe(subjects.agent_control("victim-agent"))
        await round_trip(observer.connection)
        client = await connect(fleet.urls, hostile.seed, inbox=subjects.inbox_prefix(hostile.agent_id))
        events = subjects.agent_events(hostile.agent_id)
        await client.connection.publish(events, b"{not json", reply="partout.probe")
        await client.connection.publish(events, encode(hostile.batch(1)), reply=subjects.agent_control("victim-agent"))
        await round_trip(client.connection)
        heard = await drain(probe, quiet=1.0), await drain(victim, quiet=1.0)
        await client.connection.close()
        await observer.connection.close()
        return heard

    on_probe, on_victim = run(attack())
    assert eventually(lambda: stored(fleet, hostile.agent_id) == 1)
    for message in [*on_probe, *on_victim]:
        assert set(decode_json(message.data)) <= {"stream", "seq", "duplicate", "domain"}, message.data
        assert decode(Control, message.data) is None


def decode_json(data: bytes) -> dict[str, Any]:
    import json

    loaded = json.loads(data)
    assert isinstance(loaded, dict)
    return loaded
