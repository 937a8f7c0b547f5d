"""Event batches from an approved (simulated) agent: stored through the events stream and
the masters' durable consumer, republished on partout.node.*, stored once whatever the
redeliveries; bad batches dropped, counted and their sender told; the throttle backs a
storming agent off and calm brings it back, over its control subject."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from event_agent import SimulatedAgent, repairs
from helpers import eventually
from test_master_ingest import approved_agent
from test_master_support import MasterEnv, master_env  # noqa: F401

from partout import subjects
from partout.bus.connection import round_trip
from partout.bus.messages import BusMessage
from partout.events.backoff import ThrottleSettings
from partout.events.wire import MAX_BATCH_BYTES, Level
from partout.master.config import AutoApproveRule
from partout.master.daemon import Master
from partout.master.events_config import EventsConfig
from partout.master.store.event_records import EventQuery
from partout.operator import OperatorClient, default_key_file

__all__ = ["master_env"]

RULES = (AutoApproveRule(hostname="auto-*", environment="production"),)
# a short window and quick looks, so that calm shows within seconds
QUICK = EventsConfig(throttle=ThrottleSettings(window=4.0, grace=1.0), advice_interval=0.2, advice_min_gap=0.0,
                     notice_gap=0.0)


@pytest.fixture
def events_master(master_env: MasterEnv) -> Iterator[tuple[MasterEnv, Master]]:  # noqa: F811
    master = master_env.master(auto_approve=RULES, events=QUICK)
    try:
        yield master_env, master
    finally:
        master.stop()


@pytest.fixture
def agent(events_master: tuple[MasterEnv, Master], tmp_path: Path) -> Iterator[SimulatedAgent]:
    env, _ = events_master
    key, agent_id = approved_agent(env, tmp_path)
    simulated = SimulatedAgent(env.urls, key.seed, agent_id).start()
    try:
        yield simulated
    finally:
        simulated.stop()


class NodeListener:
    """The operator identity subscribed to partout.node.> (what `partout events --follow` does)."""

    def __init__(self, env: MasterEnv, subject: str = subjects.NODE_EVENTS_ALL) -> None:
        self.messages: list[BusMessage] = []
        self._lock = threading.Lock()
        key_file = default_key_file(env.nats_state)
        self.client = OperatorClient.connect(env.urls, key_file=key_file)
        self.client.follow(subject, self._heard)

    def _heard(self, message: BusMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"subject": message.subject, **json.loads(message.data)} for message in self.messages]


def ingest(master: Master) -> Any:
    ref = master.addresses["event-ingest"].ref
    assert ref is not None
    return ref.proxy()


def test_a_batch_is_stored_republished_and_shown_to_the_operator(events_master: tuple[MasterEnv, Master],
                                                                  agent: SimulatedAgent) -> None:
    env, master = events_master
    listener = NodeListener(env)
    try:
        counts = repairs(3) + repairs(2, module="service", title="nginx", message="restarted")
        batch = agent.batch(leaves=counts)
        agent.send(batch)
        assert eventually(lambda: len(listener.events()) == 2)
        heard = {event["subject"]: event for event in listener.events()}
        file_event = heard[subjects.node_event(agent.agent_id, "file", "changed")]
        assert (file_event["title"], file_event["message"], file_event["count"]) == ("/etc/motd", "content repaired", 3)
        assert file_event["batch_id"] == batch.batch_id and file_event["v"] == 1
        assert heard[subjects.node_event(agent.agent_id, "service", "changed")]["count"] == 2
        stored = master.store.events(EventQuery(agent_id=agent.agent_id))
        assert sum(event.count for event in stored) == 5
        shown = listener.client.events(agent=agent.agent_id, module="file")
        assert [event["count"] for event in shown["events"]] == [3]
        assert shown["totals"]["count"] == 3
        assert shown["subject"] == f"partout.node.{agent.agent_id}.file.*"
    finally:
        listener.client.close()


def test_a_coarse_batch_is_republished_under_the_any_module(events_master: tuple[MasterEnv, Master],
                                                            agent: SimulatedAgent) -> None:
    env, master = events_master
    listener = NodeListener(env, subjects.node_events_matching(agent.agent_id, "_all", None))
    try:
        agent.send(agent.batch(leaves=repairs(4), level=Level.AGENT))
        assert eventually(lambda: [event["count"] for event in listener.events()] == [4])
        assert listener.events()[0]["level"] == int(Level.AGENT)
    finally:
        listener.client.close()


def test_an_alive_message_is_stored_and_marks_the_agent_seen(events_master: tuple[MasterEnv, Master],
                                                             agent: SimulatedAgent) -> None:
    _, master = events_master
    enrolled = master.store.get_agent(agent.agent_id)
    assert enrolled is not None and enrolled.last_seen is not None
    agent.send(agent.batch(6, level=Level.ALIVE))
    assert eventually(lambda: ingest(master).batches_stored.get() == 1)
    seen = master.store.get_agent(agent.agent_id)
    assert seen is not None and seen.last_seen is not None and seen.last_seen > enrolled.last_seen
    assert sum(event.count for event in master.store.events(EventQuery(agent_id=agent.agent_id))) == 6


def test_a_batch_delivered_again_is_stored_once(events_master: tuple[MasterEnv, Master],
                                                agent: SimulatedAgent) -> None:
    _, master = events_master
    batch = agent.batch(7)
    agent.send(batch)  # message id = batch id
    agent.send(batch)  # the same message id: the stream keeps one
    agent.send(batch, message_id="another-message-id")  # the stream keeps it: the store must not count it twice
    assert eventually(lambda: ingest(master).batches_duplicate.get() == 1)
    assert ingest(master).batches_stored.get() == 1
    assert sum(event.count for event in master.store.events(EventQuery(agent_id=agent.agent_id))) == 7


def test_bad_batches_are_dropped_counted_and_their_sender_told(events_master: tuple[MasterEnv, Master],
                                                               agent: SimulatedAgent, tmp_path: Path) -> None:
    env, master = events_master
    agent.send(b"{not json", message_id="bad-1")
    agent.send(b"x" * (MAX_BATCH_BYTES + 1), message_id="bad-2")
    forged = agent.batch(50, agent_id="someone-else")  # on its own subject, in another agent's name
    agent.send(forged)
    assert eventually(lambda: sum(ingest(master).rejected.get().values()) == 3)
    assert dict(ingest(master).rejected.get()) == {"malformed": 1, "oversized": 1, "forged": 1}
    assert eventually(lambda: len(agent.rejections()) == 3)
    reasons = " | ".join(rejection.reason for rejection in agent.rejections())
    assert "malformed" in reasons and "oversized" in reasons and "forged" in reasons
    assert forged.batch_id in {rejection.batch_id for rejection in agent.rejections()}
    assert {reason: master.security[f"events.{reason}"] for reason in ("malformed", "oversized", "forged")} == {
        "malformed": 1, "oversized": 1, "forged": 1}
    assert master.store.events(EventQuery(agent_id="someone-else")) == []
    # legitimate traffic goes on
    agent.send(agent.batch(2))
    assert eventually(lambda: ingest(master).batches_stored.get() == 1)


def test_a_storm_backs_the_agent_off_and_calm_brings_it_back(events_master: tuple[MasterEnv, Master],
                                                             agent: SimulatedAgent) -> None:
    _, master = events_master
    for _ in range(3):  # 6000 events in 15 s: 24,000 a minute
        agent.send(agent.batch(2000, seconds=5))
    assert eventually(lambda: any(advice.level == Level.ALIVE for advice in agent.advice()), timeout=20), \
        agent.advice()
    stormy = next(advice for advice in agent.advice() if advice.level == Level.ALIVE)
    assert stormy.period == QUICK.throttle.agent.period_max
    calm_from = len(agent.advice())

    def calm() -> bool:
        agent.send(agent.batch(0))  # nothing happens: empty batches cover the time that passes
        return any(advice.level == Level.MESSAGE and advice.period == QUICK.throttle.agent.period_min
                   for advice in agent.advice()[calm_from:])

    assert eventually(calm, timeout=30, interval=0.3), agent.advice()


def test_an_agent_hears_new_advice_at_most_once_per_gap(master_env: MasterEnv,  # noqa: F811
                                                         tmp_path: Path) -> None:
    master = master_env.master(auto_approve=RULES, events=QUICK.model_copy(update={"advice_min_gap": 3600.0}))
    key, agent_id = approved_agent(master_env, tmp_path)
    agent = SimulatedAgent(master_env.urls, key.seed, agent_id).start()
    try:
        agent.send(agent.batch(2000, seconds=5))  # a storm: advice goes out at once
        assert eventually(lambda: len(agent.advice()) == 1)
        throttle = master.addresses["throttle"].ref
        assert throttle is not None

        def calm_waits() -> bool:
            agent.send(agent.batch(0))
            return bool(throttle.proxy().waiting.get() == 1)

        # calm changes the advice, but the agent was told within the gap: it waits
        assert eventually(calm_waits, timeout=30, interval=0.3)
        assert throttle.proxy().advice_sent.get() == 1 and len(agent.advice()) == 1
    finally:
        agent.stop()
        master.stop()


def test_batches_published_while_the_master_is_down_all_land(master_env: MasterEnv,  # noqa: F811
                                                            tmp_path: Path) -> None:
    first = master_env.master(auto_approve=RULES, events=QUICK)
    key, agent_id = approved_agent(master_env, tmp_path)
    agent = SimulatedAgent(master_env.urls, key.seed, agent_id).start()
    try:
        agent.send(agent.batch(1))
        assert eventually(lambda: ingest(first).batches_stored.get() == 1)
        first.stop()  # the agent's connection stays: it was authorised before
        for count in range(2, 12):
            agent.send(agent.batch(count))
        again = master_env.master(auto_approve=RULES, events=QUICK)
        try:
            def stored() -> int:
                return sum(count.count for count in again.store.event_counts(EventQuery(agent_id=agent_id)))

            assert eventually(lambda: stored() == agent.published, timeout=30), (stored(), agent.published)
        finally:
            again.stop()
    finally:
        agent.stop()


def test_an_agent_identity_cannot_read_the_node_events(events_master: tuple[MasterEnv, Master],
                                                       agent: SimulatedAgent) -> None:
    """partout.node.> is for operators and integrations: an agent's subscription is refused."""
    env, master = events_master
    heard: list[Any] = []

    async def try_to_read() -> list[str]:
        import nats

        errors: list[str] = []

        async def collect(error: Exception) -> None:
            errors.append(str(error))

        async def listen(message: Any) -> None:
            heard.append(message)

        connection = await nats.connect(env.urls, nkeys_seed_str=agent.seed, error_cb=collect,
                                        inbox_prefix=subjects.inbox_prefix(agent.agent_id), allow_reconnect=False)
        try:
            await connection.subscribe(subjects.NODE_EVENTS_ALL, cb=listen)
            await round_trip(connection)
            await asyncio.to_thread(agent.send, agent.batch(1))
            for _ in range(100):
                if errors:
                    break
                await asyncio.sleep(0.05)
        finally:
            await connection.close()
        return errors

    errors = asyncio.run(try_to_read())
    assert any("permissions violation" in error.lower() for error in errors), errors
    assert eventually(lambda: ingest(master).batches_stored.get() == 1)
    assert heard == []


def test_a_batch_the_store_keeps_failing_on_is_given_up_without_blocking_the_next(
        events_master: tuple[MasterEnv, Master], agent: SimulatedAgent, caplog: pytest.LogCaptureFixture) -> None:
    env, master = events_master
    poison, healthy = agent.batch(3), agent.batch(5)
    # a real SQLite failure for this one batch: the store's own database refuses its row
    with sqlite3.connect(env.config().store_location) as database:
        database.execute(f"CREATE TRIGGER poison BEFORE INSERT ON event_batches WHEN NEW.batch_id = "
                         f"'{poison.batch_id}' BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END")
    agent.send(poison)
    agent.send(healthy)
    # (at least: on a loaded machine the ack wait may run out too, and redeliver it once more)
    assert eventually(lambda: ingest(master).batches_given_up.get() >= 1, timeout=60)
    assert eventually(lambda: ingest(master).batches_stored.get() == 1)
    assert sum(event.count for event in master.store.events(EventQuery(agent_id=agent.agent_id))) == 5
    given_up = [record for record in caplog.records if "given up" in record.getMessage()]
    assert given_up and all(record.levelname == "ERROR" for record in given_up)
    assert f"event batch on partout.agent.{agent.agent_id}.events given up after 20 deliveries" \
        in given_up[0].getMessage()
    failures = [record for record in caplog.records if record.getMessage() == "event batch not stored"]
    assert len(failures) >= 20
    assert getattr(given_up[0], "sequence") == 1  # the first in the stream: where an operator finds it
