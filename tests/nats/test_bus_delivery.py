"""What the bus promises about delivery and retries, against a real secured nats-server:
a flush returns only once the server has every message published before it; a publish the
server cannot take is refused alone; refused credentials are retried on the shared Backoff."""

from __future__ import annotations


import nats
import pytest
from helpers import eventually
from natsenv import NatsEnv

from partout import subjects
from partout.bus.connection import round_trip
from partout.bus.facade import Bus
from partout.bus.messages import BusMessage, ConnectionState
from partout.errors import BusError
from partout.retry import Backoff
from partout.state import read_secret


async def test_a_flush_returns_once_the_server_has_every_message_published_before_it(env: NatsEnv, bus: Bus) -> None:
    # a second, plain nats-py connection counts what the server forwarded: the server sends
    # a subscriber's messages in order, so once this connection's own PING is answered,
    # everything the server had processed before is in its pending queue
    watcher = await nats.connect(env.urls, nkeys_seed_str=read_secret(env.master.seed_file).decode().strip())
    try:
        subscription = await watcher.subscribe(subjects.agent_facts("web1"))
        await round_trip(watcher)
        bus.flush().get(timeout=10)  # connected
        for number in range(5000):
            bus.publish(subjects.agent_facts("web1"), str(number).encode())
        bus.flush(timeout=10).get(timeout=30)
        await round_trip(watcher)
        assert subscription.pending_msgs == 5000
        assert bus.stats().get(timeout=5).published == 5000
    finally:
        await watcher.close()


def test_a_flush_with_nothing_queued_still_waits_for_the_server(bus: Bus) -> None:
    bus.flush().get(timeout=10)
    assert bus.flush(timeout=1).get(timeout=10) is None


def test_a_publish_the_server_cannot_take_is_refused_alone_and_later_ones_go_on(bus: Bus) -> None:
    received: list[BusMessage] = []
    bus.subscribe(subjects.agent_facts("web1"), received.append).get(timeout=5)
    bus.publish(subjects.agent_facts("web1"), b"before")
    bus.publish(subjects.agent_facts("web1"), b"x" * (9 << 20))  # over the backbone's 8 MB max_payload
    bus.publish(subjects.agent_facts("web1"), b"after")
    bus.flush().get(timeout=10)
    assert eventually(lambda: [message.data for message in received] == [b"before", b"after"])
    stats = bus.stats().get(timeout=5)
    assert (stats.published, stats.refused) == (2, 1)
    assert stats.errors.get("MaxPayloadError") == 1


def test_refused_credentials_are_retried_on_the_shared_backoff(env: NatsEnv) -> None:
    stranger = env.identity(None)  # a key the auth callout does not know: refused
    node = env.backbone.nodes[0]
    node.stop()
    states: list[ConnectionState] = []
    refused = Bus.start(env.bus_options(stranger, reconnect_wait=0.05, refused_max_wait=0.4))
    try:
        refused.watch_connection(states.append)
        assert eventually(lambda: any(state.state == "disconnected" for state in states), timeout=15)
        node.start()  # the server answers from now on, and refuses
        assert eventually(lambda: sum(state.state == "refused" for state in states) >= 6, timeout=30)
        waits = [state.retry_in for state in states if state.state == "refused"]
        policy = Backoff(first=0.05, limit=0.4, jitter=0)
        for attempt, wait in enumerate(waits[:6], start=1):
            longest = policy.delay(attempt)
            assert longest * 0.8 <= wait <= longest, (attempt, waits)
        assert all("authorization violation" in state.reason.lower() for state in states if state.state == "refused")
        assert refused.stats().get(timeout=5).state == "refused"
    finally:
        refused.stop()


def test_a_jetstream_publish_with_no_stream_retries_until_its_deadline(bus: Bus) -> None:
    # no ensure_streams: nothing answers on the events subject, a retryable failure
    with pytest.raises(BusError, match="JetStream publish to .* failed"):
        bus.jetstream_publish(subjects.agent_events("web1"), b"e", timeout=1.0).get(timeout=10)
    assert bus.stats().get(timeout=5).jetstream_retries >= 2
    bus.ensure_streams().get(timeout=15)
    ack = bus.jetstream_publish(subjects.agent_events("web1"), b"e", timeout=10).get(timeout=15)
    assert ack.stream == subjects.EVENTS_STREAM
