"""Two masters share the events stream's consumer, so each stores only some of an agent's
batches; each tells the other of what it stored (partout.master.counted), so both throttles
measure the agent's whole rate, and the agent is advised by one of them at a time, the same
one whatever order they heard of the batches in; each tells the other what it advised
(partout.master.advised). Only a master may publish there: an agent or an operator that
tries to inflate a count or plant an advice is refused."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import nkeys
from event_agent import SimulatedAgent, repairs
from helpers import eventually
from test_master_events import QUICK, RULES, ingest
from test_master_ingest import approved_agent
from test_master_support import MasterEnv, master_env  # noqa: F401

from partout import subjects
from partout.bus.connection import round_trip
from partout.bus.messages import BusMessage
from partout.events.backoff import ThrottleSettings
from partout.events.counts import build_batch
from partout.events.notices import EVENTS_COMMAND, advice_parameters
from partout.events.wire import Advice, AdviceSent, BatchCounted, Level
from partout.master.events_ingest import BatchStored
from partout.master.throttle import ThrottleActor
from partout.operator import default_key_file
from partout.state import read_secret
from partout.master.daemon import Master
from partout.wire import encode
from partout.wire.fleet import Control

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
            mine = throttle_of(first).throttle.get().current(agent_id, at)  # type: ignore[attr-defined]
            theirs = throttle_of(second).throttle.get().current(agent_id, at)  # type: ignore[attr-defined]
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
    forged_advice = AdviceSent(master="forger", agent_id=agent_id, advice=Advice(period=3600.0, level=Level.ALIVE))

    async def attempt(seed: str, identity: str) -> list[str]:
        errors: list[str] = []

        async def failed(error: Exception) -> None:
            errors.append(str(error))

        connection = await nats.connect(master_env.urls, nkeys_seed_str=seed, error_cb=failed,
                                        inbox_prefix=subjects.inbox_prefix(identity), connect_timeout=5)
        try:
            await connection.publish(subjects.EVENTS_COUNTED, encode(forged))
            await connection.publish(subjects.ADVICE_SENT, encode(forged_advice))
            await round_trip(connection)
            await asyncio.sleep(0.3)  # the server's -ERR comes back asynchronously
        finally:
            await connection.close()
        return errors

    try:
        for seed, identity in ((key.seed, agent_id), (operator_seed, operator_key)):
            errors = asyncio.run(attempt(seed, identity))
            violations = [error for error in errors if "permissions violation" in error.lower()]
            assert any(subjects.EVENTS_COUNTED in error for error in violations), (identity, errors)
            assert any(subjects.ADVICE_SENT in error for error in violations), (identity, errors)
        assert throttle_of(master).counted_elsewhere.get() == 0  # type: ignore[attr-defined]
        assert rate(master, "someone-else", time.time()) == 0.0
    finally:
        master.stop()


def test_two_masters_that_each_stored_one_of_two_close_batches_agree_on_who_advises() -> None:
    # each hears of its own batch first and of the other's after (counts crossing on the
    # bus): by arrival, each would defer to the other and nobody would advise the agent
    first = ThrottleActor(None, QUICK, instance="first")
    second = ThrottleActor(None, QUICK, instance="second")
    agent_id = "7b0e5c1e-8a37-4c55-9c40-7c1d8f1b2a10"
    now = datetime.now(UTC)
    earlier, later = (build_batch(repairs(5), Level.MESSAGE, batch_id=f"crossing-batch-{number}", agent_id=agent_id,
                                  period_start=now - timedelta(seconds=2 * number),
                                  period_end=now - timedelta(seconds=2 * number - 2), sent_at=now)
                      for number in (2, 1))

    def counted(master: str, batch: Any) -> BusMessage:
        return BusMessage(subjects.EVENTS_COUNTED, encode(BatchCounted(
            master=master, agent_id=agent_id, period_start=batch.period_start, period_end=batch.period_end,
            count=batch.count, received_at=time.time())))

    first.handle(BatchStored(earlier, time.time()))
    second.handle(BatchStored(later, time.time()))
    first.handle(counted("second", later))
    second.handle(counted("first", earlier))
    assert (first.advises(agent_id), second.advises(agent_id)) == (False, True)
    # and in the other order of arrival too
    first, second = ThrottleActor(None, QUICK, instance="first"), ThrottleActor(None, QUICK, instance="second")
    first.handle(counted("second", later))
    first.handle(BatchStored(earlier, time.time()))
    second.handle(counted("first", earlier))
    second.handle(BatchStored(later, time.time()))
    assert (first.advises(agent_id), second.advises(agent_id)) == (False, True)


def test_advice_another_master_sent_meanwhile_is_corrected_by_the_advising_one(master_env: MasterEnv,  # noqa: F811
                                                                                tmp_path: Path) -> None:
    # a long window: the advice stays what the storm made it, so only the correction can
    # change what the agent holds
    steady = QUICK.model_copy(update={"throttle": ThrottleSettings(window=600.0, grace=1.0)})
    master = master_env.master(auto_approve=RULES, events=steady)
    key, agent_id = approved_agent(master_env, tmp_path)
    agent = SimulatedAgent(master_env.urls, key.seed, agent_id).start()
    seed = read_secret(master_env.nats_state / "keys" / "master.nk").decode().strip()
    try:
        agent.send(agent.batch(300, seconds=2))  # a storm: this master advises a longer period
        assert eventually(lambda: bool(agent.advice()), timeout=15)
        stale = Advice(period=604_799.0, level=Level.ALIVE)  # nothing a throttle would advise
        heard = len(agent.advice())

        async def another_master_told_the_agent() -> None:
            connection = await nats.connect(master_env.urls, nkeys_seed_str=seed, connect_timeout=5)
            try:
                await connection.publish(subjects.agent_control(agent_id), encode(Control(
                    command=EVENTS_COMMAND, parameters=advice_parameters(stale))))
                await connection.publish(subjects.ADVICE_SENT, encode(AdviceSent(
                    master="another", agent_id=agent_id, advice=stale)))
                await round_trip(connection)
            finally:
                await connection.close()

        asyncio.run(another_master_told_the_agent())

        def corrected() -> bool:
            told = agent.advice()[heard:]
            current = throttle_of(master).throttle.get().current(agent_id, time.time())  # type: ignore[attr-defined]
            # the planted advice reached the agent, and the advising master's came after it
            return stale in told and told.index(stale) < len(told) - 1 and told[-1] == current

        assert eventually(corrected, timeout=15), agent.advice()[heard:]
    finally:
        agent.stop()
        master.stop()
