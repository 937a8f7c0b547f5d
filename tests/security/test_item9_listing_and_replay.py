"""Issue item 9: an approved agent listed the environments with STREAM.INFO and a subjects
filter; a signed operator request could be replayed within its 300 s window.

Agents read their policy by a direct get naming their key (no STREAM.INFO right); operator
requests carry a nonce the master remembers, so the second use is refused.
"""

from __future__ import annotations

import json

from securityenv import (
    Fleet, agent_seed, connect, eventually, legitimate_traffic_works, new_key_from_seed, operator_seed, public, run,
)

from partout import subjects
from partout.wire import decode, encode
from partout.wire.fleet import OperatorReply, OperatorRequest


def test_an_agent_cannot_list_environments_and_reads_its_own_policy_only(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n", timeout=30)
    mine = agent.agent.agent_id or ""
    stream = f"KV_{subjects.POLICY_BUCKET}"

    async def attack() -> tuple[str, bytes, bool]:
        import nats

        hostile = await connect(fleet.urls, agent_seed(agent), subjects.inbox_prefix(mine))
        listed = False
        try:
            await hostile.connection.request(f"$JS.API.STREAM.INFO.{stream}",
                                             json.dumps({"subjects_filter": ">"}).encode(), timeout=2)
            listed = True
        except nats.errors.Error:
            pass
        try:
            await hostile.connection.request(subjects.policy_direct_get("staging"), b"", timeout=2)
            listed = True
        except nats.errors.Error:
            pass
        own = await hostile.connection.request(subjects.policy_direct_get("production"), b"", timeout=5)
        await hostile.wait_for_errors(2)
        await hostile.connection.close()
        return hostile.violations(), own.data, listed

    violations, own, listed = run(attack())
    assert not listed
    assert f'permissions violation for publish to "$js.api.stream.info.{stream.lower()}"' in violations
    assert b"manifest" in own  # its own environment's bundle
    legitimate_traffic_works(fleet, "prod-2")


def test_a_replayed_operator_request_is_refused(fleet: Fleet) -> None:
    key = new_key_from_seed(operator_seed(fleet))
    me = public(key)
    signed = encode(OperatorRequest(public_key=me, verb="agents.list").signed_by(key))

    async def replay() -> list[OperatorReply | None]:
        operator = await connect(fleet.urls, operator_seed(fleet), subjects.inbox_prefix(me))
        answers = []
        for _ in range(3):
            answer = await operator.connection.request(subjects.master_api(), signed, timeout=5)
            answers.append(decode(OperatorReply, answer.data))
        await operator.connection.close()
        return answers

    first, *replays = run(replay())
    assert first is not None and first.ok
    assert all(reply is not None and not reply.ok and "replayed" in reply.error for reply in replays)
    assert fleet.master is not None and fleet.master.security["operator.replay"] == 2
    assert fleet.operator.agents() == []  # fresh requests (new nonces) still work
    legitimate_traffic_works(fleet, "prod-1")
