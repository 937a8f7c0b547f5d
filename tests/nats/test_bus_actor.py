"""BusActor through its Bus facade, against a real secured nats-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pykka
import pytest
from helpers import eventually
from natsenv import NatsEnv, secured_backbone

from partout import subjects, wire
from partout.errors import BusError
from partout.nats import permissions
from partout.bus.facade import Bus
from partout.bus.messages import BusMessage, ConnectionState, KeyValueChange, Publish, Subscribe
from partout.nats.permissions import Role


class Collector(pykka.ThreadingActor):
    """Keeps what it is told, for the test thread to look at."""

    def __init__(self, received: list[Any]) -> None:
        super().__init__()
        self.received = received  # list.append is atomic: the test thread may read it

    def on_receive(self, message: Any) -> None:
        self.received.append(message)


class Collected:
    def __init__(self) -> None:
        self.received: list[Any] = []
        self.actor_ref = Collector.start(self.received)


class Ping(wire.WireMessage):
    kind: ClassVar[str] = "test-ping"
    text: str


class Decoder(pykka.ThreadingActor):
    """A subscriber that decodes what arrives, as every Partout subscriber does."""

    def __init__(self, pings: list[Ping]) -> None:
        super().__init__()
        self.pings = pings

    def on_receive(self, message: Any) -> None:
        if isinstance(message, BusMessage) and (ping := wire.decode(Ping, message.data)) is not None:
            self.pings.append(ping)


@pytest.fixture
def collector() -> Iterator[Collected]:
    collected = Collected()
    try:
        yield collected
    finally:
        collected.actor_ref.stop()


def test_published_messages_reach_a_subscribed_actor(bus: Bus, collector: Collected) -> None:
    bus.subscribe(subjects.agent_facts("web1"), collector.actor_ref).get(timeout=5)
    bus.publish(subjects.agent_facts("web1"), b"one")
    bus.ref.tell(Publish(subjects.agent_facts("web1"), b"two"))
    assert eventually(lambda: len(collector.received) == 2)
    assert [message.data for message in collector.received] == [b"one", b"two"]


def test_a_request_gets_its_reply_in_a_future(bus: Bus) -> None:
    def echo(message: BusMessage) -> None:
        bus.publish(message.reply, message.data.upper())

    bus.subscribe(subjects.ENROL, echo).get(timeout=5)
    reply = bus.request(subjects.ENROL, b"hello", timeout=2).get(timeout=5)
    assert reply.data == b"HELLO"


def test_a_request_nobody_answers_fails_with_a_bus_error(bus: Bus) -> None:
    with pytest.raises(BusError, match="partout.trigger.nobody"):
        bus.request(subjects.trigger("nobody"), b"?", timeout=0.5).get(timeout=5)


def test_jetstream_publish_is_acked_once_per_message_id(bus: Bus) -> None:
    bus.ensure_streams().get(timeout=15)
    first = bus.jetstream_publish(subjects.agent_events("web1"), b"e", message_id="m-1").get(timeout=10)
    again = bus.jetstream_publish(subjects.agent_events("web1"), b"e", message_id="m-1").get(timeout=10)
    assert first.stream == subjects.EVENTS_STREAM
    assert (again.sequence, again.duplicate) == (first.sequence, True)


def test_policy_changes_are_delivered_to_a_watching_actor(bus: Bus, collector: Collected) -> None:
    bus.ensure_streams().get(timeout=15)
    key = subjects.policy_key("prod")
    bus.kv_put(subjects.POLICY_BUCKET, key, b"v1").get(timeout=5)
    bus.kv_watch(subjects.POLICY_BUCKET, key, collector.actor_ref).get(timeout=5)
    bus.kv_put(subjects.POLICY_BUCKET, key, b"v2").get(timeout=5)
    assert eventually(lambda: [change.value for change in collector.received] == [b"v1", b"v2"])
    latest = bus.kv_get(subjects.POLICY_BUCKET, key).get(timeout=5)
    assert isinstance(latest, KeyValueChange) and latest.value == b"v2"


def test_connection_state_changes_are_reported(env: NatsEnv, bus: Bus, collector: Collected) -> None:
    bus.flush().get(timeout=5)
    bus.watch_connection(collector.actor_ref)
    assert eventually(lambda: ConnectionState("connected", env.urls[0].removeprefix("nats://")) in collector.received)
    env.backbone.nodes[0].stop()
    assert eventually(lambda: any(state.state == "disconnected" for state in collector.received))
    env.backbone.nodes[0].start()
    assert eventually(lambda: any(state.state == "reconnected" for state in collector.received))


def test_the_bus_survives_a_server_restart_and_delivers_what_it_buffered(env: NatsEnv, bus: Bus) -> None:
    bus.ensure_streams().get(timeout=15)
    bus.flush().get(timeout=5)
    node = env.backbone.nodes[0]
    node.stop()
    assert eventually(lambda: bus.stats().get(timeout=5).state == "disconnected")
    for number in range(100):
        bus.publish(subjects.agent_events("web1"), str(number).encode())
    node.start()
    bus.flush(timeout=10).get(timeout=30)
    checker = Bus.start(env.bus_options())
    try:
        def stored() -> int:
            message = checker.request("$JS.API.STREAM.INFO." + subjects.EVENTS_STREAM, b"", timeout=2)
            import json

            return int(json.loads(message.get(timeout=5).data)["state"]["messages"])

        assert eventually(lambda: stored() == 100, timeout=15)
    finally:
        checker.stop()
    stats = bus.stats().get(timeout=5)
    assert stats.reconnects >= 1 and stats.refused == 0


def test_a_malformed_message_is_dropped_and_counted(bus: Bus) -> None:
    pings: list[Ping] = []
    decoder = Decoder.start(pings)
    try:
        before = wire.dropped(Ping.kind)
        subscribed: pykka.Future[str] = pykka.ThreadingFuture()
        bus.ref.tell(Subscribe(subjects.trigger("ping"), decoder, future=subscribed))
        subscribed.get(timeout=5)
        bus.publish(subjects.trigger("ping"), b"{not json")
        bus.publish(subjects.trigger("ping"), b'{"v": 99, "text": "from the future"}')
        bus.publish(subjects.trigger("ping"), wire.encode(Ping(text="hello")))
        assert eventually(lambda: [ping.text for ping in pings] == ["hello"])
        assert wire.dropped(Ping.kind) == before + 2
        assert decoder.is_alive()
    finally:
        decoder.stop()


def test_an_agent_bus_sees_the_servers_permission_violation(env: NatsEnv) -> None:
    agent = env.identity(Role.AGENT, permissions.agent("web1", "prod"), inbox="web1")
    agent_bus = Bus.start(env.bus_options(agent))
    try:
        agent_bus.subscribe("partout.>", lambda message: None).get(timeout=5)
        violation = 'nats: permissions violation for subscription to "partout.>"'
        assert eventually(lambda: violation in agent_bus.stats().get(timeout=5).errors)
    finally:
        agent_bus.stop()


def test_an_agent_reads_and_watches_its_environments_policy_only(env: NatsEnv, bus: Bus) -> None:
    # as the agent does it (partout.agent.feed): a direct get naming its key, and the
    # republished updates of that key; nats-py's key_value() would need STREAM.INFO, which
    # agents do not get (it lists every environment's key with a subjects filter)
    from partout.agent.feed import PolicyFeed, PolicyValue

    bus.ensure_streams().get(timeout=15)
    bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key("prod"), b"prod policy").get(timeout=5)
    bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key("staging"), b"staging policy").get(timeout=5)
    agent = env.identity(Role.AGENT, permissions.agent("web1", "prod"), inbox="web1")
    agent_bus = Bus.start(env.bus_options(agent, jetstream_timeout=0.5))
    changes: list[PolicyValue] = []
    try:
        PolicyFeed(agent_bus, "web1", "prod", changes.append).start()
        bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key("prod"), b"prod policy 2").get(timeout=5)
        assert eventually(lambda: [change.value for change in changes] == [b"prod policy", b"prod policy 2"])
        with pytest.raises(Exception):
            agent_bus.request(subjects.policy_direct_get("staging"), b"", timeout=1).get(timeout=10)
        with pytest.raises(BusError):
            agent_bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key("prod")).get(timeout=10)
    finally:
        agent_bus.stop()


def test_publishes_beyond_the_buffer_bound_while_disconnected_are_refused_and_counted(env: NatsEnv) -> None:
    small = Bus.start(env.bus_options(max_buffer_bytes=4096))
    try:
        small.flush().get(timeout=5)
        env.backbone.nodes[0].stop()
        assert eventually(lambda: small.stats().get(timeout=5).state == "disconnected")
        for _ in range(100):
            small.publish(subjects.agent_facts("web1"), b"x" * 200)
        assert eventually(lambda: small.stats().get(timeout=5).refused > 0)
        stats = small.stats().get(timeout=5)
        assert stats.refused + stats.published == 100
        assert stats.published * 200 <= 4096
    finally:
        small.stop()


def test_streams_and_the_policy_bucket_are_created_idempotently(bus: Bus) -> None:
    bus.ensure_streams().get(timeout=15)
    bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key("prod"), b"kept").get(timeout=5)
    bus.ensure_streams().get(timeout=15)
    kept = bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key("prod")).get(timeout=5)
    assert kept is not None and kept.value == b"kept"


def test_a_bus_started_while_the_server_is_down_connects_later_and_sends_what_it_queued(env: NatsEnv) -> None:
    node = env.backbone.nodes[0]
    node.stop()
    early = Bus.start(env.bus_options(max_queued=100))
    try:
        received: list[BusMessage] = []
        subscribed = early.subscribe(subjects.agent_facts("web1"), received.append)
        for number in range(103):
            early.publish(subjects.agent_facts("web1"), str(number).encode())
        assert early.stats().get(timeout=5).state in ("connecting", "disconnected")
        node.start()
        subscribed.get(timeout=15)
        early.flush(timeout=10).get(timeout=30)
        stats = early.stats().get(timeout=5)
        assert stats.refused == 3  # the bound on what waits for the first connection
        assert stats.published == 100
    finally:
        early.stop()


def test_a_request_waiting_for_a_connection_fails_when_the_bus_stops(env: NatsEnv) -> None:
    env.backbone.nodes[0].stop()
    lonely = Bus.start(env.bus_options())
    waiting = lonely.request(subjects.ENROL, b"anyone?", timeout=60)
    lonely.stop()
    with pytest.raises(BusError, match="stopped"):
        waiting.get(timeout=5)


def test_the_bus_talks_tls_to_a_backbone_started_with_certificates(tmp_path: Path) -> None:
    from natsenv import self_signed_certificate

    tls = self_signed_certificate(tmp_path)
    with secured_backbone(tmp_path, tls=tls) as secured:
        assert secured.urls[0].startswith("tls://")
        tls_bus = Bus.start(secured.bus_options(tls_ca=tls.cert))
        try:
            received: list[BusMessage] = []
            tls_bus.subscribe(subjects.agent_facts("web1"), received.append).get(timeout=10)
            tls_bus.publish(subjects.agent_facts("web1"), b"encrypted")
            assert eventually(lambda: [message.data for message in received] == [b"encrypted"])
        finally:
            tls_bus.stop()


def test_a_task_scheduled_as_the_bus_loop_stops_is_cancelled_not_left_never_awaited() -> None:
    import asyncio
    import gc
    import threading
    import warnings

    from partout.bus.actor import cancel_leftover_tasks

    loop = asyncio.new_event_loop()
    started: list[str] = []

    async def ack() -> None:
        started.append("ack")

    def from_another_thread() -> None:  # what a late ack does: create its task on the loop
        loop.create_task(ack())

    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    # stop, then the ack's callback in the same loop iteration: its task is created, never run
    loop.call_soon_threadsafe(lambda: (loop.stop(), from_another_thread()))
    thread.join(timeout=5)
    assert len(asyncio.all_tasks(loop)) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cancel_leftover_tasks(loop)
        loop.close()
        gc.collect()
    assert not asyncio.all_tasks(loop) and started == []
    assert not [warning for warning in caught if "never awaited" in str(warning.message)]
