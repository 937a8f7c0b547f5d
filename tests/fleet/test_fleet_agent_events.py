"""The agent's events against a real partout-nats and master: a drift repair is counted
into a batch on `partout.agent.<id>.events` within the period; the master's advice on the
control subject changes the period and the level, and malformed advice changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from agent_events_support import (
    advice_control, batches, drift, events_fleet, new_batches, reports, results, send_control, started,
)
from fleetenv import Fleet
from helpers import eventually, eventually_async

from partout import subjects
from partout.bus.connection import round_trip
from partout.events.wire import Level, key_of
from partout.report import Status
from partout.state import read_secret
from partout.wire import encode
from partout.wire.fleet import Control


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with events_fleet(tmp_path) as running:
        yield running


def test_a_drift_repair_is_counted_in_a_batch_on_the_events_subject(fleet: Fleet) -> None:
    agent = started(fleet, "prod-events")
    agent_id = agent.agent.agent_id or ""
    first = new_batches(fleet, agent, 0, 1)  # the first run's outcome
    drift(agent, "drift\n")
    batch = new_batches(fleet, agent, len(first), 1)[-1]
    assert batch.agent_id == agent_id and batch.level == Level.MESSAGE
    assert batch.by_status == {Status.CHANGED: 1}
    assert batch.modules is not None and batch.modules["file"].objects is not None
    repaired = batch.modules["file"].objects[key_of(str(agent.motd))]
    assert repaired.messages is not None and repaired.count == 1
    watch_report = next(report for report in agent.runs() if report.report.trigger == "watch")
    assert list(repaired.messages) == [key_of(watch_report.report.results[0].summary)]
    assert batch.sequence == watch_report.sequence
    # each report and each batch stored once; every result counted once
    assert eventually(lambda: sum(b.count for b in batches(fleet, agent_id)) == results(agent.runs()), timeout=30)
    assert len({b.batch_id for b in batches(fleet, agent_id)}) == len(batches(fleet, agent_id))
    assert sorted(r.report_id for r in reports(fleet, agent_id)) == sorted(r.report_id for r in agent.runs())


def test_advice_on_the_control_subject_changes_the_period_and_the_level(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout")
    agent = started(fleet, "prod-advised")
    agent_id = agent.agent.agent_id or ""
    seen = len(new_batches(fleet, agent, 0, 1))
    # the master's own first advice (P = 1 s, level 4 in this fleet) is in before ours
    assert eventually(lambda: "event advice from the master" in caplog.text, timeout=30)
    send_control(fleet, agent_id, advice_control(period=4, splay=0.0, level=2, alive_period=3600))
    assert eventually(lambda: caplog.text.count("event advice from the master") == 2, timeout=15)
    before = datetime.now(UTC)
    drift(agent, "drift 1\n")
    batch = new_batches(fleet, agent, seen, 1)[-1]
    assert batch.level == Level.MODULE and batch.modules is not None
    assert batch.modules["file"].count == 1 and batch.modules["file"].objects is None
    # the period opened with the repair, after `before`, and lasts the advised 4 s
    assert (batch.sent_at - before).total_seconds() >= 4.0
    seen += 1

    # malformed advice, or a notice without any, is ignored: period and level stay
    send_control(fleet, agent_id, advice_control(period="soon", level=9))
    send_control(fleet, agent_id, advice_control(period=0.001, level=4))
    send_control(fleet, agent_id, Control(command="events", parameters={"advise": {"level": 4}}))
    send_control(fleet, agent_id, b'{"command": "events", "parameters": {"advice": [')
    assert eventually(lambda: caplog.text.count("malformed 'events' control from the master ignored") == 3,
                      timeout=15)
    drift(agent, "drift 2\n")
    batch = new_batches(fleet, agent, seen, 1)[-1]
    assert batch.level == Level.MODULE and batch.count == 1
    assert agent.agent.state == "running"

    # the master's word that a batch was dropped is logged, nothing more (an oversized one is malformed)
    send_control(fleet, agent_id, Control(command="events", parameters={"rejected": {"batch_id": "x" * 500,
                                                                                     "reason": "too big" * 100}}))
    send_control(fleet, agent_id, Control(command="events", parameters={"rejected": {"batch_id": "b" * 32,
                                                                                     "reason": "too big"}}))
    assert eventually(lambda: "the master rejected an event batch" in caplog.text, timeout=15)
    assert caplog.text.count("the master rejected an event batch") == 1
    assert caplog.text.count("malformed 'events' control from the master ignored") == 4
    assert agent.agent.state == "running"


def test_an_agent_cannot_forge_advice_for_another_agent_or_itself(fleet: Fleet) -> None:
    victim, rogue = started(fleet, "prod-victim"), started(fleet, "prod-rogue")
    victim_id, rogue_id = victim.agent.agent_id or "", rogue.agent.agent_id or ""
    seen = len(new_batches(fleet, victim, 0, 1))
    forged = encode(advice_control(period=60, splay=0.0, level=0, alive_period=86400))

    async def forge() -> list[str]:
        errors: list[str] = []

        async def collect(error: Exception) -> None:
            errors.append(str(error))

        seed = read_secret(rogue.agent.config.state_dir / "agent.nk").decode().strip()
        connection = await nats.connect(fleet.urls, nkeys_seed_str=seed, error_cb=collect, allow_reconnect=False,
                                        inbox_prefix=subjects.inbox_prefix(rogue_id), connect_timeout=5)
        try:
            await connection.publish(subjects.agent_control(victim_id), forged)
            await connection.publish(subjects.agent_control(rogue_id), forged)
            # the reply-subject trick: ask the victim's events subject to "answer" on a control subject
            await connection.publish(subjects.agent_events(rogue_id), b"{}", reply=subjects.agent_control(victim_id))
            await round_trip(connection)
            await eventually_async(lambda: len(errors) >= 2, timeout=10)
        finally:
            await connection.close()
        return errors

    errors = asyncio.run(forge())
    assert sum("permissions violation" in error.lower() for error in errors) >= 2, errors
    drift(victim, "drift\n")
    batch = new_batches(fleet, victim, seen, 1)[-1]
    assert batch.level == Level.MESSAGE and batch.count == 1  # the forged level 0 was never heard
