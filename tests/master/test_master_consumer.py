"""The durable JetStream consumer the masters share (JetStreamConsume on the BusActor):
what a consumer received but did not acknowledge before it died is delivered again to the
next one; what it acknowledged is not."""

from __future__ import annotations

import threading
from pathlib import Path

import pykka
from helpers import eventually
from natsenv import secured_backbone

from partout import subjects
from partout.bus.facade import Bus
from partout.bus.messages import GetStats, JetStreamConsume, JetStreamDelivery


def consume(bus: Bus, received: list[JetStreamDelivery], *, ack: bool) -> None:
    lock = threading.Lock()

    def target(delivery: JetStreamDelivery) -> None:
        with lock:
            received.append(delivery)
        if ack:
            delivery.ack()

    future: pykka.Future[str] = pykka.ThreadingFuture()
    bus.ref.tell(JetStreamConsume(stream=subjects.REPORTS_STREAM, durable="test-reports",
                                  subject=subjects.AGENT_REPORTS_ALL, target=target, ack_wait=1.0, future=future))
    future.get(timeout=10)


def test_unacknowledged_messages_go_to_the_next_consumer_and_acknowledged_ones_do_not(tmp_path: Path) -> None:
    with secured_backbone(tmp_path) as env:
        first = Bus.start(env.bus_options())
        first.ref.ask(GetStats(), timeout=10)
        try:
            first.ensure_streams().get(timeout=30)
            for number in range(3):
                first.jetstream_publish(subjects.agent_report("web1"), f"report {number}".encode(),
                                        message_id=f"r{number}").get(timeout=10)
            seen: list[JetStreamDelivery] = []
            consume(first, seen, ack=False)
            assert eventually(lambda: len(seen) == 3)
            seen[0].ack()  # stored; the other two die with this consumer
            first.flush().get(timeout=5)
        finally:
            first.stop()
        second = Bus.start(env.bus_options())
        second.ref.ask(GetStats(), timeout=10)
        try:
            again: list[JetStreamDelivery] = []
            consume(second, again, ack=True)
            assert eventually(lambda: len(again) == 2)
            assert sorted(delivery.data for delivery in again) == [b"report 1", b"report 2"]
            assert all(delivery.delivered >= 2 for delivery in again)
        finally:
            second.stop()
