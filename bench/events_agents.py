"""The worker side of bench/events.py: many simulated agents in one process.

Each simulated agent is the real `partout.events.Aggregator` (period, splay, level, alive
message) fed with events at the storm's rate, plus a real `partout.events.Spool` opened
when a publish is not acknowledged (and drained in order, message id = batch id, before
anything newer goes out). Batches are real EventBatch JSON published through JetStream on
`partout.agent.<id>.events`; every agent subscribes to its own control subject and obeys
the master's Advice (`Aggregator.advise`).

Connections (`--identity`): "enrolled" gives each agent its own nkey, enrolled and
auto-approved by the master, and its own connection with the permissions the callout
grants an agent; "shared" puts the agents on a few connections that authenticate with the
master's nkey from the NATS state dir (the bench's stand-in for 10,000 machines: one
process cannot hold 10,000 TLS-less nkey connections on a 2-core box and stay honest
about the master's CPU). The master sees the same subjects, ids and batches either way.

The parent reads one JSON line per second on stdout ({"status": ...}) and a final one
({"final": ...}) once the storm is over, every aggregator flushed and every spool drained.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from partout import subjects
from partout.events.aggregator import Aggregator
from partout.events.notices import EVENTS_COMMAND, advice_in
from partout.events.spool import Spool
from partout.events.wire import Advice, Event, EventBatch, parse_batch
from partout.report import Status
from partout.wire import decode, encode
from partout.wire.fleet import Control, EnrolReply, EnrolRequest

# (fraction of the duration, rate at its end as a fraction of the peak): calm, rise, peak, fall, calm
PHASES = (("calm", 0.10, 0.0), ("rise", 0.30, 1.0), ("peak", 0.15, 1.0), ("fall", 0.20, 0.0), ("calm", 0.25, 0.0))
MODULES = ("file", "service", "package", "user")
MESSAGES = ("content repaired", "mode repaired", "restarted", "installed", "owner repaired")
PUBLISH_TIMEOUT = 10.0
MAX_IN_FLIGHT = 512


def storm_rate(elapsed: float, duration: float, calm: float, peak: float) -> tuple[str, float]:
    """(phase, fleet-wide events per minute) at `elapsed` seconds into the storm."""
    start, level = 0.0, 0.0
    for name, fraction, target in PHASES:
        end = start + fraction * duration
        if elapsed < end:
            share = level + (target - level) * (elapsed - start) / (end - start)
            return name, calm + (peak - calm) * share
        start, level = end, target
    return "over", calm


class SimAgent:
    def __init__(self, agent_id: str, connection: Any, spool_dir: Path, now: datetime) -> None:
        self.agent_id = agent_id
        self.connection = connection
        self.subject = subjects.agent_events(agent_id)
        self.aggregator = Aggregator(agent_id, now=now)
        self._spool_path = spool_dir / f"{agent_id}.spool"
        self.spool: Spool | None = None
        self.generated = 0
        self.acked = 0
        self.advice_heard = 0
        self.sending = False

    def open_spool(self) -> Spool:
        if self.spool is None:
            self.spool = Spool(self._spool_path)
        return self.spool

    @property
    def spooled(self) -> bool:
        return self.spool is not None and len(self.spool) > 0

    def heard(self, data: bytes) -> None:
        control = decode(Control, data)
        if control is None or control.command != EVENTS_COMMAND:
            return
        advice = advice_in(control.parameters)
        if advice is not None:
            self.aggregator.advise(advice, datetime.now(UTC))
            self.advice_heard += 1


class Worker:
    def __init__(self, arguments: argparse.Namespace) -> None:
        self.arguments = arguments
        self.agents: list[SimAgent] = []
        self.connections: list[Any] = []
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.publish_errors = 0
        self.stopping = asyncio.Event()
        self.rng = random.Random(arguments.first)
        self.owed = 0.0  # the fraction of an event not happened yet

    async def connect(self, seed: str, inbox: str | None, name: str) -> Any:
        import nats

        options: dict[str, Any] = {"inbox_prefix": inbox} if inbox else {}
        return await nats.connect(self.arguments.nats, nkeys_seed_str=seed, name=name, connect_timeout=10,
                                  max_reconnect_attempts=-1, reconnect_time_wait=0.5, **options)

    async def enrol(self, index: int) -> tuple[str, str]:
        """A new nkey, enrolled under hostname bench-<index> (auto-approved): (seed, agent id)."""
        from partout.nats.jwt import create_key
        import nkeys

        key = create_key(nkeys.PREFIX_BYTE_USER)
        pair = nkeys.from_seed(bytearray(key.seed))
        public, seed = pair.public_key.decode(), key.seed.decode()
        request = encode(EnrolRequest(public_key=public, hostname=f"bench-{index:05d}",
                                      facts={"os": "linux"}).signed_by(pair))
        for _ in range(60):
            connection = await self.connect(seed, subjects.inbox_prefix(public), f"bench-enrol-{index}")
            try:
                reply = decode(EnrolReply, (await connection.request(subjects.enrol(public), request, timeout=10)).data)
            except Exception:
                reply = None
            finally:
                await connection.close()
            if reply is not None and reply.status == "approved" and reply.agent_id:
                return seed, reply.agent_id
            await asyncio.sleep(1.0)
        raise SystemExit(f"bench-{index:05d} was not approved")

    async def start(self) -> None:
        arguments = self.arguments
        now = datetime.now(UTC)
        spools = Path(arguments.directory) / "spools"
        spools.mkdir(parents=True, exist_ok=True)
        indexes = range(arguments.first, arguments.first + arguments.count)
        if arguments.identity == "shared":
            seed = Path(arguments.master_seed).read_text().strip()
            self.connections = [await self.connect(seed, None, f"bench-events-{arguments.first}-{n}")
                                for n in range(arguments.connections)]
            for position, index in enumerate(indexes):
                connection = self.connections[position % len(self.connections)]
                self.agents.append(SimAgent(f"bench-{index:05d}", connection, spools, now))
        else:
            for index in indexes:
                seed, agent_id = await self.enrol(index)
                connection = await self.connect(seed, subjects.inbox_prefix(agent_id), agent_id)
                self.connections.append(connection)
                self.agents.append(SimAgent(agent_id, connection, spools, now))
        for agent in self.agents:
            async def heard(message: Any, agent: SimAgent = agent) -> None:
                agent.heard(message.data)

            await agent.connection.subscribe(subjects.agent_control(agent.agent_id), cb=heard)
        for connection in self.connections:
            await connection.flush()
        for agent in self.agents:  # the advice an agent starts with (the master's default initial)
            agent.aggregator.advise(Advice.model_validate_json(arguments.initial_advice), now)

    async def publish(self, agent: SimAgent, subject: str, payload: bytes, message_id: str) -> bool:
        async with self.in_flight:
            try:
                await agent.connection.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": message_id},
                                                           timeout=PUBLISH_TIMEOUT)
                return True
            except Exception:
                self.publish_errors += 1
                return False

    async def send(self, agent: SimAgent, batch: EventBatch) -> None:
        """Publish, or spool when the stream does not acknowledge (and while older batches wait)."""
        if agent.sending or agent.spooled:
            agent.open_spool().put_batch(agent.subject, batch)
            return
        agent.sending = True
        try:
            if await self.publish(agent, agent.subject, encode(batch), batch.batch_id):
                agent.acked += batch.count
            else:
                agent.open_spool().put_batch(agent.subject, batch)
        finally:
            agent.sending = False

    async def drain(self, agent: SimAgent) -> None:
        """The agent's spool, oldest first, until empty or a publish fails."""
        if agent.spool is None or agent.sending:
            return
        agent.sending = True
        try:
            while messages := agent.spool.peek(16):
                for message in messages:
                    if not await self.publish(agent, message.subject, message.payload, message.message_id):
                        return
                    agent.spool.ack(message.message_id)
                    agent.acked += parse_batch(message.payload).count
        finally:
            agent.sending = False

    def happen(self, agent: SimAgent, now: datetime) -> None:
        module = self.rng.choice(MODULES)
        status = Status.FAILED if self.rng.random() < 0.05 else Status.CHANGED
        agent.aggregator.add(Event(agent_id=agent.agent_id, module=module,
                                   title=f"/etc/{module}/{self.rng.randrange(20)}.conf",
                                   status=status, message=self.rng.choice(MESSAGES), agent_time=now), now)
        agent.generated += 1

    async def storm(self) -> None:
        arguments = self.arguments
        tasks: set[asyncio.Task[None]] = set()
        tick = 0.5
        last_status = 0.0
        while not self.stopping.is_set():
            elapsed = time.time() - arguments.start_at
            phase, rate = storm_rate(elapsed, arguments.duration, arguments.calm, arguments.peak)
            if phase == "over":
                break
            now = datetime.now(UTC)
            # this process's share of the fleet's events in this tick, each on an agent drawn at random
            self.owed += rate / 60.0 * len(self.agents) / arguments.agents * tick
            happening, self.owed = divmod(self.owed, 1.0)
            for _ in range(int(happening)):
                self.happen(self.rng.choice(self.agents), now)
            for agent in self.agents:
                if agent.aggregator.next_due() <= now and (batch := agent.aggregator.poll(now)) is not None:
                    self._spawn(tasks, self.send(agent, batch))
                elif agent.spooled and not agent.sending:
                    self._spawn(tasks, self.drain(agent))
            if time.monotonic() - last_status >= 1.0:
                last_status = time.monotonic()
                self.report("status", phase=phase, rate=rate)
            await asyncio.sleep(tick)
        # the storm is over: every agent stops like a real one would (flush), then drains
        now = datetime.now(UTC)
        for agent in self.agents:
            if (batch := agent.aggregator.flush(now)) is not None:
                self._spawn(tasks, self.send(agent, batch))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if tasks:
                await asyncio.wait(list(tasks), timeout=1.0)
            waiting = [agent for agent in self.agents if agent.spooled]
            if not waiting and not tasks:
                break
            for agent in waiting:
                if not agent.sending:
                    self._spawn(tasks, self.drain(agent))
            self.report("status", phase="drain", rate=0.0)
            await asyncio.sleep(0.5)
        self.report("final", phase="over", rate=0.0)

    @staticmethod
    def _spawn(tasks: set[asyncio.Task[None]], coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def report(self, kind: str, **fields: Any) -> None:
        levels = Counter(int(agent.aggregator.advice.level) for agent in self.agents)
        periods = Counter(agent.aggregator.advice.period for agent in self.agents)
        line = {
            kind: True, "at": time.time(), **fields,
            "generated": sum(agent.generated for agent in self.agents),
            "acked": sum(agent.acked for agent in self.agents),
            "pending": sum(agent.aggregator.pending for agent in self.agents),
            "spooled": sum(agent.spool.event_count() for agent in self.agents if agent.spool is not None),
            "spools_opened": sum(agent.spool is not None for agent in self.agents),
            "advice_heard": sum(agent.advice_heard for agent in self.agents),
            "publish_errors": self.publish_errors,
            "levels": {str(level): count for level, count in levels.items()},
            "periods": {str(period): count for period, count in periods.items()},
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        await self.start()
        self.report("ready", phase="ready", rate=0.0)
        await asyncio.sleep(max(0.0, self.arguments.start_at - time.time()))
        await self.storm()
        await self.stopping.wait()  # the parent reads the store, then stops us
        for connection in self.connections:
            await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", required=True)
    parser.add_argument("--nats", action="append", required=True)
    parser.add_argument("--identity", choices=("enrolled", "shared"), required=True)
    parser.add_argument("--master-seed", help="the master's nkey seed file (shared identity)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--agents", type=int, required=True, help="the whole fleet (the rates are fleet-wide)")
    parser.add_argument("--start-at", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--calm", type=float, required=True)
    parser.add_argument("--peak", type=float, required=True)
    parser.add_argument("--initial-advice", required=True)
    asyncio.run(Worker(parser.parse_args()).run())


if __name__ == "__main__":
    main()
