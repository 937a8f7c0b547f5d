"""Several masters answer the operator API in a queue group: a signed request answered by
one of them must be a replay for every other, or a captured request could be replayed to
the master that has not seen its nonce yet. The nonces are shared through a KV bucket."""

from __future__ import annotations

from typing import Any

from securityenv import Fleet, connect, legitimate_traffic_works, new_key_from_seed, operator_seed, public, run

from partout import subjects
from partout.master.daemon import Master
from partout.wire import decode, encode
from partout.wire.fleet import OperatorReply, OperatorRequest


def _operator_api(master: Master) -> Any:
    ref = master.child("operator-api")
    assert ref is not None
    return ref.proxy()


def test_a_request_answered_by_one_master_is_refused_as_a_replay_by_the_other(fleet: Fleet) -> None:
    assert fleet.master is not None
    second = Master(fleet.master_config()).start()
    try:
        key = new_key_from_seed(operator_seed(fleet))
        me = public(key)
        signed = encode(OperatorRequest(public_key=me, verb="agents.list").signed_by(key))

        async def send(times: int) -> list[OperatorReply | None]:
            operator = await connect(fleet.urls, operator_seed(fleet), subjects.inbox_prefix(me))
            answers = []
            for _ in range(times):
                answer = await operator.connection.request(subjects.master_api(), signed, timeout=5)
                answers.append(decode(OperatorReply, answer.data))
            await operator.connection.close()
            return answers

        [first] = run(send(1))
        assert first is not None and first.ok  # one master of the two answered it
        # each master, asked directly with the same bytes: the one that never saw it too
        for master in (fleet.master, second):
            reply = _operator_api(master).answer(signed).get(timeout=10)
            assert not reply.ok and "replayed" in reply.error
        # and through the queue group, whichever master gets them
        replays = run(send(6))
        assert all(reply is not None and not reply.ok and "replayed" in reply.error for reply in replays)
        assert fleet.master.security["operator.replay"] + second.security["operator.replay"] == 8
        assert fleet.operator.agents() == []  # fresh requests (new nonces) still work
    finally:
        second.stop()
    legitimate_traffic_works(fleet, "prod-1")
