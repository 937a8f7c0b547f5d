"""A 3-node partout-nats cluster keeps every JetStream message, once, when a node is killed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import pytest
from natsenv import secured_backbone

from partout import subjects
from partout.bus.facade import Bus
from partout.bus.messages import ConnectionState
from partout.state import read_secret

MESSAGES = 10_000


async def _read_stream(urls: list[str], seed_file: Path) -> list[bytes]:
    connection = await nats.connect(urls, nkeys_seed_str=read_secret(seed_file).decode().strip())
    try:
        jetstream = connection.jetstream(timeout=2)
        deadline = time.monotonic() + 60
        while True:
            try:  # the meta leader may still be re-elected after the kill
                info = await jetstream.stream_info(subjects.EVENTS_STREAM)
                consumer = await jetstream.pull_subscribe(subjects.AGENT_EVENTS_ALL, durable=None,
                                                          stream=subjects.EVENTS_STREAM)
                break
            except (nats.errors.Error, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise
        payloads: list[bytes] = []
        while len(payloads) < info.state.messages and time.monotonic() < deadline:
            try:
                batch = await consumer.fetch(batch=1000, timeout=2)  # max_ack_pending is 1000
            except nats.errors.TimeoutError:
                continue  # the consumer's leader may still be settling after the kill
            payloads.extend(message.data for message in batch)
            for message in batch:
                await message.ack()
        return payloads
    finally:
        await connection.close()


@pytest.mark.slow
def test_no_jetstream_message_is_lost_or_doubled_when_a_node_is_killed(tmp_path: Path) -> None:
    with secured_backbone(tmp_path, cluster_size=3) as env:
        bus = Bus.start(env.bus_options())
        states: list[ConnectionState] = []
        bus.watch_connection(states.append)
        try:
            bus.ensure_streams(replicas=3).get(timeout=60)
            futures = []
            for number in range(MESSAGES):
                futures.append(bus.jetstream_publish(subjects.agent_events(f"agent{number % 7}"),
                                                     str(number).encode(), message_id=f"event-{number}",
                                                     timeout=60))
                if number == MESSAGES // 3:
                    futures[0].get(timeout=30)
                    # kill the node this bus is connected to: it must reconnect and retry
                    victim = next(node for node in env.backbone.nodes if node.url.endswith(states[-1].server))
                    victim.kill()
            acks = [future.get(timeout=120) for future in futures]
            stats = bus.stats().get(timeout=5)
        finally:
            bus.stop()
        assert all(not ack.error for ack in acks)
        survivors = [node.url for node in env.backbone.nodes if node.running]
        payloads = asyncio.run(_read_stream(survivors, env.master.seed_file))
    assert len(payloads) == MESSAGES
    assert sorted(int(payload) for payload in payloads) == list(range(MESSAGES))
    assert stats.reconnects == 1  # the kill did hit this bus's server
