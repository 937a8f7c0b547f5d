"""Attack 2: a client makes the master (which publishes with `>` rights) answer on a reply
subject of the client's choosing: the policy KV, the policy updates, another agent's report.

The master answers enrolment only into `_INBOX_<the connected key>.`, operator requests
only into the signing operator's inbox; everything else is dropped, unanswered, and counted.
"""

from __future__ import annotations

from securityenv import (
    Fleet, connect, drain, eventually, kv_value, kv_verifies, legitimate_traffic_works, master_seed, new_key,
    new_key_from_seed, operator_seed, public, run, seed_of,
)

from partout import subjects
from partout.bus.connection import round_trip
from partout.wire import decode, encode
from partout.wire.fleet import EnrolReply, EnrolRequest, OperatorReply, OperatorRequest


def _targets(fleet: Fleet, key: str) -> list[str]:
    other = public(new_key())
    return [subjects.policy_kv_subject("staging"), subjects.policy_updates("production"),
            subjects.agent_report("prod-1"), subjects.agent_control("prod-1"), f"{subjects.inbox_prefix(other)}.x",
            "_INBOX.x", f"{subjects.inbox_prefix(key)}.*", f"{subjects.inbox_prefix(key)}.>",
            f"{subjects.inbox_prefix(key)}", f"{subjects.inbox_prefix(key)}..x", subjects.master_api()]


def test_enrolment_is_answered_only_in_the_inbox_of_the_key_that_connected(fleet: Fleet) -> None:
    stage = fleet.agent("stage-1")
    assert eventually(lambda: stage.content() == "staging 1\n", timeout=30)
    staging_revision = kv_value(fleet, "staging").revision
    key = new_key()
    me = public(key)
    targets = _targets(fleet, me)
    signed = encode(EnrolRequest(public_key=me, hostname="auto-1").signed_by(key))
    payloads = [b"{}", b"\x00\xff garbage", signed]

    async def attack() -> tuple[list[str], str, EnrolReply | None]:
        master = await connect(fleet.urls, master_seed(fleet))
        watcher = await master.connection.subscribe(">")
        await round_trip(master.connection)
        hostile = await connect(fleet.urls, seed_of(key), subjects.inbox_prefix(me))
        await hostile.connection.publish(subjects.ENROL, b"{}", reply=subjects.policy_kv_subject("staging"))  # the original
        for reply in targets:
            for payload in payloads:
                await hostile.connection.publish(subjects.enrol(me), payload, reply=reply)
        await hostile.connection.publish(subjects.enrol(me), signed)  # no reply at all
        await round_trip(hostile.connection)
        await hostile.wait_for_errors(1)
        leaked = [message.subject for message in await drain(watcher, quiet=1.0)
                  if message.subject in targets and not message.reply]  # answers carry no reply
        # the same key asking properly is answered (rate limits allowing: one more request)
        answer = await hostile.connection.request(subjects.enrol(me), signed, timeout=5)
        await hostile.connection.close()
        await master.connection.close()
        return leaked, hostile.violations(), decode(EnrolReply, answer.data)

    leaked, violations, answer = run(attack())
    assert leaked == []
    assert f'permissions violation for publish to "{subjects.ENROL}"' in violations
    assert fleet.master is not None
    security = fleet.master.security
    assert security["enrol.foreign-reply"] == len(targets) * len(payloads)
    assert security["enrol.no-reply"] == 1
    assert answer is not None and answer.status == "pending"
    assert [entry.outcome for entry in fleet.master.store.enrolments() if entry.public_key == me] == ["pending"]
    assert kv_value(fleet, "staging").revision == staging_revision and kv_verifies(fleet, "staging")
    assert stage.content() == "staging 1\n"
    legitimate_traffic_works(fleet, "prod-legit")


def test_operator_requests_are_answered_only_in_the_signing_operators_inbox(fleet: Fleet) -> None:
    operator_key = new_key_from_seed(operator_seed(fleet))
    me = public(operator_key)
    master_key = public(new_key_from_seed(master_seed(fleet)))
    targets = [*_targets(fleet, me), f"{subjects.inbox_prefix(master_key)}.x"]
    signed = encode(OperatorRequest(public_key=me, verb="agents.list").signed_by(operator_key))

    async def attack() -> tuple[list[str], OperatorReply | None]:
        master = await connect(fleet.urls, master_seed(fleet))
        watcher = await master.connection.subscribe(">")
        await round_trip(master.connection)
        hostile = await connect(fleet.urls, operator_seed(fleet), subjects.inbox_prefix(me))
        for reply in targets:
            for payload in (b"{}", b"not json", signed):
                await hostile.connection.publish(subjects.master_api(), payload, reply=reply)
        await round_trip(hostile.connection)
        leaked = [message.subject for message in await drain(watcher, quiet=1.0)
                  if message.subject in targets and not message.reply]  # answers carry no reply
        fresh = encode(OperatorRequest(public_key=me, verb="agents.list").signed_by(operator_key))
        answer = await hostile.connection.request(subjects.master_api(), fresh, timeout=5)
        await hostile.connection.close()
        await master.connection.close()
        return leaked, decode(OperatorReply, answer.data)

    leaked, answer = run(attack())
    assert leaked == []
    assert answer is not None and answer.ok
    assert fleet.master is not None
    assert fleet.master.security["operator.foreign-reply"] == len(targets) * 3
    assert fleet.operator.agents() == []  # the CLI's client still works
    legitimate_traffic_works(fleet, "prod-legit")
