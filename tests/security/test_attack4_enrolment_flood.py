"""Attack 4: one connection enrolled any number of self-made keys, each with up to 256 KB of
facts; every request, even a malformed one, added a store row; after `max_pending` real
agents were refused.

A request is bound to the key that connected (`partout.enrol.<key>`, the only enrolment
subject its permissions name); one record per key; per-key and overall rate limits; junk is
counted, never stored; real agents still enrol during the flood.
"""

from __future__ import annotations

import threading

from securityenv import (
    Fleet, approved, connect, eventually, legitimate_traffic_works, new_key, public, run, seed_of,
)

from partout import subjects
from partout.bus.connection import round_trip
from partout.master.daemon import Master
from partout.wire import encode
from partout.wire.fleet import MAX_ENROL_BYTES, EnrolRequest


def test_one_connection_cannot_enrol_keys_it_did_not_connect_with(fleet: Fleet) -> None:
    attacker = new_key()
    me = public(attacker)
    made = [new_key() for _ in range(50)]

    async def attack() -> str:
        hostile = await connect(fleet.urls, seed_of(attacker), subjects.inbox_prefix(me))
        for key in made:
            request = encode(EnrolRequest(public_key=public(key), hostname="auto-1").signed_by(key))
            await hostile.connection.publish(subjects.enrol(me), request, reply=f"{subjects.inbox_prefix(me)}.x")
            await hostile.connection.publish(subjects.enrol(public(key)), request,
                                             reply=f"{subjects.inbox_prefix(public(key))}.x")
        await round_trip(hostile.connection)
        await hostile.wait_for_errors(len(made))
        await hostile.connection.close()
        return hostile.violations()

    violations = run(attack())
    assert fleet.master is not None
    security = fleet.master.security
    assert eventually(lambda: security["enrol.key-mismatch"] + security["enrol.rate-limited-key"] == len(made))
    for key in made:
        assert f'permissions violation for publish to "{subjects.enrol(public(key)).lower()}"' in violations
    assert fleet.master.store.agents() == [] and fleet.master.store.enrolments() == []
    legitimate_traffic_works(fleet, "prod-1")


def test_real_agents_enrol_while_a_key_floods_and_junk_fills_nothing(fleet: Fleet) -> None:
    fleet.stop_master()
    fleet.master = Master(fleet.master_config().model_copy(update={"max_pending": 3})).start()
    attacker = new_key()
    me = public(attacker)
    own = encode(EnrolRequest(public_key=me, hostname="flood").signed_by(attacker))
    other = new_key()
    junk = [
        own, b"{}", b"\x00" * 100, encode(EnrolRequest(public_key=public(other), hostname="x").signed_by(other)),
        encode(EnrolRequest(public_key=me, hostname="fat", facts={"blob": "x" * MAX_ENROL_BYTES}).signed_by(attacker)),
    ]
    stop = threading.Event()
    sent = [0]

    async def flood() -> None:
        hostile = await connect(fleet.urls, seed_of(attacker), subjects.inbox_prefix(me))
        while not stop.is_set():
            for payload in junk:
                await hostile.connection.publish(subjects.enrol(me), payload, reply=f"{subjects.inbox_prefix(me)}.x")
                sent[0] += 1
            await round_trip(hostile.connection)
        await hostile.connection.close()

    flooding = threading.Thread(target=run, args=(flood(),), daemon=True)
    flooding.start()
    try:
        assert eventually(lambda: sent[0] > 500, timeout=20)
        waiting = [fleet.agent("unlisted-1"), fleet.agent("unlisted-2")]
        legitimate_traffic_works(fleet, "prod-legit")
        assert fleet.master is not None
        assert eventually(lambda: len(fleet.master.store.agents("pending")) == 3, timeout=30)
        assert eventually(lambda: sent[0] > 2000, timeout=30)
    finally:
        stop.set()
        flooding.join(timeout=10)
    master = fleet.master
    pending = {agent.hostname for agent in master.store.agents("pending")}
    assert pending == {"flood", "unlisted-1", "unlisted-2"}
    assert [entry.hostname for entry in master.store.enrolments() if entry.public_key == me] == ["flood"]
    assert master.security["enrol.rate-limited-key"] > 1000
    assert master.security["enrol.oversized"] >= 1  # the fat facts were refused, never stored
    fleet.operator.approve(waiting[0].agent.public_key, environment="production")
    assert approved(waiting[0], timeout=30)
