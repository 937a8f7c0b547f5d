"""What the agent's event tests read and send as the master would: the JetStream streams
as stored (every message, in stream order, with its message id), the agent's spool file,
and Control messages on an agent's control subject; and a fleet whose master advises a
steady period of 1 s at full detail, so that its throttle never races a test's own advice."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetenv import Fleet, FleetAgent, approved, running_fleet
from helpers import eventually

from partout import subjects
from partout.agent.config import EventSettings
from partout.bus.connection import round_trip
from partout.events.backoff import BackoffLimits, ThrottleSettings
from partout.events.wire import EventBatch, parse_batch
from partout.master.daemon import Master
from partout.master.events_config import EventsConfig
from partout.wire import encode
from partout.wire.fleet import Control, RunReport


STEADY_SECOND = BackoffLimits(divisor=100, period_min=1, period_max=1)
STEADY = EventsConfig(throttle=ThrottleSettings(agent=STEADY_SECOND, fleet=STEADY_SECOND, splay=0.0))


@contextmanager
def events_fleet(directory: Path) -> Iterator[Fleet]:
    with running_fleet(directory, master=False) as fleet:
        fleet.master = Master(fleet.master_config().model_copy(update={"events": STEADY})).start()
        yield fleet


@dataclass(frozen=True)
class Stored:
    sequence: int
    subject: str
    message_id: str
    data: bytes


def _master_seed(fleet: Fleet) -> str:
    return str(fleet.nats_state / "keys" / "master.nk")  # also for a backbone run by partout-nats


def stream(fleet: Fleet, name: str) -> list[Stored]:
    """Every message of stream `name`, in stream order (read with the master's key)."""
    import nats

    async def read() -> list[Stored]:
        connection = await nats.connect(fleet.urls, nkeys_seed=_master_seed(fleet), connect_timeout=5,
                                        max_reconnect_attempts=0)
        try:
            jetstream = connection.jetstream()
            info = await jetstream.stream_info(name)
            found: list[Stored] = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    message = await jetstream.get_msg(name, sequence)
                except Exception:
                    continue  # deleted
                headers = message.headers or {}
                found.append(Stored(sequence, message.subject, headers.get("Nats-Msg-Id", ""), message.data or b""))
            return found
        finally:
            await connection.close()

    return asyncio.run(read())


def batches(fleet: Fleet, agent_id: str) -> list[EventBatch]:
    events = subjects.agent_events(agent_id)
    return [parse_batch(message.data) for message in stream(fleet, subjects.EVENTS_STREAM) if message.subject == events]


def reports(fleet: Fleet, agent_id: str) -> list[RunReport]:
    subject = subjects.agent_report(agent_id)
    return [RunReport.model_validate_json(message.data) for message in stream(fleet, subjects.REPORTS_STREAM)
            if message.subject == subject]


def message_ids(fleet: Fleet, name: str, subject: str) -> list[str]:
    return [message.message_id for message in stream(fleet, name) if message.subject == subject]


def send_control(fleet: Fleet, agent_id: str, control: Control | bytes) -> None:
    """Publish on the agent's control subject as the master."""
    import nats

    payload = control if isinstance(control, bytes) else encode(control)

    async def send() -> None:
        connection = await nats.connect(fleet.urls, nkeys_seed=_master_seed(fleet), connect_timeout=5,
                                        max_reconnect_attempts=0)
        try:
            await connection.publish(subjects.agent_control(agent_id), payload)
            await round_trip(connection)
        finally:
            await connection.close()

    asyncio.run(send())


def advice_control(**advice: Any) -> Control:
    return Control(command="events", parameters={"advice": advice})


def spooled(state_dir: Path) -> tuple[int, int]:
    """(reports, event count) in the agent's spool file, read beside the running agent."""
    path = state_dir / "spool.db"
    if not path.exists():
        return 0, 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
        rows = connection.execute("SELECT kind, payload FROM outgoing").fetchall()
    report_count = sum(1 for kind, _ in rows if kind == "report")
    event_count = sum(json.loads(payload)["count"] for kind, payload in rows if kind == "events")
    return report_count, event_count


def pending_counts(state_dir: Path) -> int:
    """Events counted on disk and not yet in a batch (events-pending.db), read beside the running agent."""
    path = state_dir / "events-pending.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
        rows = connection.execute("SELECT payload FROM pending").fetchall()
    return sum(json.loads(payload)["count"] for (payload,) in rows)


def results(reports: list[RunReport]) -> int:
    """Events at the source: every resource result of every report is one event."""
    return sum(len(report.report.results) for report in reports)


def started(fleet: Fleet, hostname: str, period: float = 1.0) -> FleetAgent:
    """An agent of the fleet with event period `period`, approved, its first run made."""
    agent = fleet.agent(hostname, events=EventSettings(period=period, splay=0.0))
    assert approved(agent, timeout=30)
    assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) == 1, timeout=30)
    return agent


def drift(agent: FleetAgent, text: str) -> None:
    """Change the agent's watched file; return once it was repaired (and the repair reported)."""
    repairs = len(agent.runs())
    agent.motd.write_text(text)
    assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) > repairs, timeout=30)


def new_batches(fleet: Fleet, agent: FleetAgent, seen: int, count: int) -> list[EventBatch]:
    """The agent's batches in the stream after the first `seen`, once they hold `count` events."""
    found: list[EventBatch] = []

    def arrived() -> bool:
        found[:] = batches(fleet, agent.agent.agent_id or "")[seen:]
        return sum(batch.count for batch in found) >= count

    assert eventually(arrived, timeout=30, interval=0.2), found
    return found
