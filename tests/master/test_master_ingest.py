"""Facts and reports from an approved agent reach the store: facts over core NATS, reports
through JetStream and the masters' durable consumer, stored once whatever the redeliveries,
and not lost when the master is down while they are published."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually
from test_master_support import connect_as, enrol, master_env, new_agent_key, running_master  # noqa: F401

from partout import subjects
from partout.bus.connection import round_trip
from partout.master.daemon import Master
from partout.report import Report, ResourceResult, Status
from partout.wire import encode
from partout.wire.fleet import FactsUpdate, RunReport

__all__ = ["master_env", "running_master"]


def run_report(agent_id: str, report_id: str | None = None) -> RunReport:
    report = Report(policy="site.p2", hostname="auto-1", started_at=datetime.now(UTC), duration=0.1,
                    results=[ResourceResult(id="file:/tmp/x", status=Status.CHANGED, summary="content")])
    return RunReport(report_id=report_id or uuid.uuid4().hex, agent_id=agent_id, environment="production",
                     report=report)


def approved_agent(env: Any, tmp_path: Path) -> tuple[Any, str]:
    agent = new_agent_key(tmp_path)
    reply = enrol(env.urls, agent, hostname="auto-1")
    assert reply is not None and reply.status == "approved" and reply.agent_id
    return agent, reply.agent_id


def publish_reports(env: Any, agent: Any, agent_id: str, reports: list[tuple[RunReport, str]]) -> None:
    """Publish with JetStream as the agent; each (report, Nats-Msg-Id)."""

    async def run() -> None:
        connection = await connect_as(env.urls, agent, agent_id)
        try:
            stream = connection.jetstream()
            for report, message_id in reports:
                await stream.publish(subjects.agent_report(agent_id), encode(report),
                                     headers={"Nats-Msg-Id": message_id})
        finally:
            await connection.close()

    asyncio.run(run())


def test_facts_are_stored_and_mark_the_agent_seen(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent, agent_id = approved_agent(env, tmp_path)

    async def run() -> None:
        connection = await connect_as(env.urls, agent, agent_id)
        update = FactsUpdate(agent_id=agent_id, facts={"hostname": "auto-1", "os": {"family": "debian"}},
                             facts_hash="x")
        await connection.publish(subjects.agent_facts(agent_id), encode(update))
        await round_trip(connection)
        await connection.close()

    asyncio.run(run())
    assert eventually(lambda: master.store.get_agent(agent_id).facts.get("os") == {"family": "debian"})
    assert master.store.get_agent(agent_id).last_seen is not None


def test_a_report_published_twice_is_stored_once(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent, agent_id = approved_agent(env, tmp_path)
    report = run_report(agent_id)
    # the same message id (deduplicated by the stream) and another one (deduplicated by the store)
    publish_reports(env, agent, agent_id, [(report, report.report_id), (report, report.report_id),
                                           (report, "another-message-id")])
    other = run_report(agent_id)
    publish_reports(env, agent, agent_id, [(other, other.report_id)])
    assert eventually(lambda: len(master.store.reports(agent_id)) == 2)
    ingest = master.ingest.proxy()
    assert eventually(lambda: (ingest.reports_stored.get(), ingest.reports_duplicate.get()) == (2, 1))
    stored = sorted(record.report_id for record in master.store.reports(agent_id))
    assert stored == sorted([report.report_id, other.report_id])


def test_reports_published_while_the_master_is_down_are_stored_after_it_restarts(master_env,
                                                                                 tmp_path: Path) -> None:
    from partout.bus.messages import BusOptions
    from partout.master.address import Address
    from partout.master.callout import CALLOUT_CONNECTION, Authorizer, CalloutActor, MasterResponder
    from partout.master.config import AutoApproveRule
    from partout.master.store_actor import StoreActor, StoreHandle
    from partout.master.supervisor import Ready
    from partout.nats.keys import ACCOUNT, load_seed

    import nkeys

    rules = (AutoApproveRule(hostname="auto-*"),)
    first = master_env.master(auto_approve=rules)
    try:
        agent, agent_id = approved_agent(master_env, tmp_path)
    finally:
        first.stop()
    # no master now; only a bare callout answerer on the same store, so the agent can
    # connect and publish: JetStream keeps the reports for the durable consumer
    config = master_env.config()
    store_actor = StoreActor.start(config.store_location)
    address = Address()
    address.attach(store_actor)
    store = StoreHandle(address)

    def lookup(key: str) -> tuple[str, str, str] | None:
        record = store.agent_by_public_key(key)
        return None if record is None else (str(record.status), record.agent_id or "", record.environment or "")

    responder = MasterResponder(
        nkeys.from_seed(bytearray(load_seed(config.key_path("callout-issuer.nk"), ACCOUNT))),
        Authorizer(first.public_key, first.operator_keys, lookup, agent_ttl=60))
    options = BusOptions(servers=tuple(master_env.urls), name=CALLOUT_CONNECTION,
                         seed_file=config.key_path("callout-service.nk"))
    reports = [run_report(agent_id) for _ in range(3)]
    callout = CalloutActor.start(options, responder)
    try:
        callout.ask(Ready(), timeout=15)
        publish_reports(master_env, agent, agent_id, [(report, report.report_id) for report in reports])
    finally:
        callout.stop(timeout=10)
        store_actor.stop(timeout=10)
    assert first.store is not None
    again = master_env.master(auto_approve=rules)
    try:
        assert eventually(lambda: len(again.store.reports(agent_id)) == 3)
    finally:
        again.stop()


def test_oversized_or_malformed_facts_are_dropped(running_master, tmp_path: Path) -> None:
    from partout.wire.fleet import MAX_FACTS_BYTES

    env, master = running_master
    agent, agent_id = approved_agent(env, tmp_path)
    huge = FactsUpdate(agent_id=agent_id, facts={"blob": "x" * MAX_FACTS_BYTES}, facts_hash="h")
    good = FactsUpdate(agent_id=agent_id, facts={"marker": 1}, facts_hash="h")

    async def run() -> None:
        connection = await connect_as(env.urls, agent, agent_id)
        for data in (encode(huge), b"{not json", encode(good)):
            await connection.publish(subjects.agent_facts(agent_id), data)
        await round_trip(connection)
        await connection.close()

    asyncio.run(run())
    assert eventually(lambda: master.ingest.proxy().facts_stored.get() == 1)
    assert master.store.get_agent(agent_id).facts == {"marker": 1}


def test_a_report_the_store_keeps_failing_on_is_given_up_without_blocking_the_next(
        running_master, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env, master = running_master
    agent, agent_id = approved_agent(env, tmp_path)
    poison, healthy = run_report(agent_id), run_report(agent_id)
    # a real SQLite failure for this one report: the store's own database refuses its row
    with sqlite3.connect(env.config().store_location) as database:
        database.execute(f"CREATE TRIGGER poison BEFORE INSERT ON reports WHEN NEW.report_id = "
                         f"'{poison.report_id}' BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END")
    publish_reports(env, agent, agent_id, [(poison, poison.report_id), (healthy, healthy.report_id)])
    ingest = master.ingest.proxy()
    # (at least: on a loaded machine the ack wait may run out too, and redeliver it once more)
    assert eventually(lambda: ingest.reports_given_up.get() >= 1, timeout=60)
    assert eventually(lambda: [record.report_id for record in master.store.reports(agent_id)] == [healthy.report_id])
    given_up = [record for record in caplog.records if "given up" in record.getMessage()]
    assert given_up and all(record.levelname == "ERROR" for record in given_up)
    assert f"report on {subjects.agent_report(agent_id)} given up after 20 deliveries" in given_up[0].getMessage()
    assert len([record for record in caplog.records if record.getMessage() == "report not stored"]) >= 20
