"""Two masters share the events stream's consumer, so each stores only some of an agent's
batches; each tells the other of what it stored (partout.master.counted), so both throttles
measure the agent's whole rate, and the agent is advised by one of them at a time. Only a
master may publish there: an agent or an operator that tries to inflate a count is refused."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import nkeys
from event_agent import SimulatedAgent
from helpers import eventually
from test_master_events import QUICK, RULES, ingest
from test_master_ingest import approved_agent
from test_master_support import MasterEnv, master_env  # noqa: F401

from partout import subjects
from partout.bus.connection import round_trip
from partout.events.wire import BatchCounted
from partout.operator import default_key_file
from partout.state import read_secret
from partout.master.daemon import Master
from partout.wire import encode

__all__ = ["master_env"]


def throttle_of(master: Master) -> object:
    ref = master.addresses["throttle"].ref
    assert ref is not None
    return ref.proxy()


def counted(master: Master) -> int:
    """Batches this master's throttle counted: its own and the other's."""
    proxy = throttle_of(master)
    return int(ingest(master).batches_stored.get()) + int(proxy.counted_elsewhere.get())  # type: ignore[attr-defined]


def rate(master: Master, agent_id: str, now: float) -> float:
    throttle = throttle_of(master).throttle.get()  # type: ignore[attr-defined]
    return float(throttle.agent_rate(agent_id, now))


def test_both_throttles_count_every_batch_whoever_stored_it(master_env: MasterEnv,  # noqa: F811
                                                             tmp_path: Path) -> None:
    first = master_env.master(auto_approve=RULES, events=QUICK)
    second = master_env.master(auto_approve=RULES, events=QUICK)
    key, agent_id = approved_agent(master_env, tmp_path)
    agent = SimulatedAgent(master_env.urls, key.seed, agent_id).start()
    try:
        for _ in range(20):
            agent.send(agent.batch(300, seconds=2))
        stored = lambda: ingest(first).batches_stored.get() + ingest(second).batches_stored.get()  # noqa: E731
        assert eventually(lambda: stored() == 20, timeout=30)
        assert ingest(first).batches_stored.get() > 0 and ingest(second).batches_stored.get() > 0, \
            "the queue group gave every batch to one master: this test proves nothing then"
        assert eventually(lambda: counted(first) == 20 and counted(second) == 20, timeout=15)
        now = time.time()
        assert rate(first, agent_id, now) == rate(second, agent_id, now) > 0

        # both measure the same storm, so they agree on the advice, and the agent ends up told
        # exactly that (while batches are in flight, one master may decide before it heard of
        # the other's latest, so the advice on the way there need not only coarsen)
        def agreed() -> bool:
            at = time.time()
            mine = throttle_of(first).throttle.get().advice(agent_id, at)  # type: ignore[attr-defined]
            theirs = throttle_of(second).throttle.get().advice(agent_id, at)  # type: ignore[attr-defined]
            return bool(mine == theirs and agent.advice() and agent.advice()[-1] == mine)

        assert eventually(agreed, timeout=15), agent.advice()[-3:]
    finally:
        agent.stop()
        first.stop()
        second.stop()


def test_neither_an_agent_nor_an_operator_can_publish_counts_for_the_masters(master_env: MasterEnv,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    master = master_env.master(auto_approve=RULES, events=QUICK)
    key, agent_id = approved_agent(master_env, tmp_path)
    operator_seed = read_secret(default_key_file(master_env.nats_state)).decode().strip()
    operator_key = nkeys.from_seed(bytearray(operator_seed.encode())).public_key.decode()
    forged = BatchCounted(master="forger", agent_id="someone-else", period_start="2026-01-01T00:00:00Z",
                          period_end="2026-01-01T00:01:00Z", count=10**9, received_at=time.time())

    async def attempt(seed: str, identity: str) -> list[str]:
        errors: list[str] = []

        async def failed(error: Exception) -> None:
            errors.append(str(error))

        connection = await nats.connect(master_env.urls, nkeys_seed_str=seed, error_cb=failed,
                                        inbox_prefix=subjects.inbox_prefix(identity), connect_timeout=5)
        try:
            await connection.publish(subjects.EVENTS_COUNTED, encode(forged))
            await round_trip(connection)
            await asyncio.sleep(0.3)  # the server's -ERR comes back asynchronously
        finally:
            await connection.close()
        return errors

    try:
        for seed, identity in ((key.seed, agent_id), (operator_seed, operator_key)):
            errors = asyncio.run(attempt(seed, identity))
            assert any("permissions violation" in error.lower() for error in errors), (identity, errors)
        assert throttle_of(master).counted_elsewhere.get() == 0  # type: ignore[attr-defined]
        assert rate(master, "someone-else", time.time()) == 0.0
    finally:
        master.stop()
