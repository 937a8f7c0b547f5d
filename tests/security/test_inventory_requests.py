"""Inventory requests (`p2.nodes`, partout.inventory.<agent id>): an agent asks only as itself,
gets answers only in its own inbox and only about its own environment; the reply-subject
trick, malformed and oversized payloads and a flood all fail while real requests go on."""

from __future__ import annotations

from securityenv import Fleet, agent_seed, connect, drain, eventually, master_seed, public, new_key, run

from partout import subjects
from partout.bus.connection import round_trip
from partout.wire import decode, encode
from partout.wire.inventory import InventoryReply, InventoryRequest

ASK = encode(InventoryRequest(query='hostname =~ "^prod-"', fields=("hostname",), compile_id="c1"))


def test_an_agent_cannot_ask_the_inventory_as_another_agent(fleet: Fleet) -> None:
    taken, victim = fleet.agent("prod-taken"), fleet.agent("prod-victim")
    assert eventually(lambda: taken.content() == "production 1\n" and victim.content() == "production 1\n",
                      timeout=30)
    mine, other = taken.agent.agent_id or "", victim.agent.agent_id or ""

    async def attack() -> tuple[str, list[str], InventoryReply | None]:
        hostile = await connect(fleet.urls, agent_seed(taken), subjects.inbox_prefix(mine))
        inbox = await hostile.connection.subscribe(f"{subjects.inbox_prefix(mine)}.>")
        await round_trip(hostile.connection)
        await hostile.connection.publish(subjects.inventory_request(other), ASK,
                                         reply=f"{subjects.inbox_prefix(mine)}.stolen")
        await hostile.connection.publish(subjects.INVENTORY_REQUESTS_ALL.replace("*", "x"), ASK,
                                         reply=f"{subjects.inbox_prefix(mine)}.stolen")
        await round_trip(hostile.connection)
        await hostile.wait_for_errors(2)
        # the real agent with this key uses the same inbox (JetStream acks of its reports and
        # event batches): only an answer to the stolen reply subject counts
        answers = [message.subject for message in await drain(inbox, quiet=0.5)
                   if message.subject == f"{subjects.inbox_prefix(mine)}.stolen"]
        # its own subject is answered, in its own inbox
        answer = await hostile.connection.request(subjects.inventory_request(mine), ASK, timeout=5)
        await hostile.connection.close()
        return hostile.violations(), answers, decode(InventoryReply, answer.data)

    violations, answers, answer = run(attack())
    assert f'permissions violation for publish to "{subjects.inventory_request(other).lower()}"' in violations
    assert answers == []
    assert answer is not None and answer.ok
    assert answer.rows == [{"hostname": "prod-taken"}, {"hostname": "prod-victim"}]


def test_answers_go_only_to_the_asking_agents_own_inbox(fleet: Fleet) -> None:
    taken, victim = fleet.agent("prod-taken"), fleet.agent("prod-victim")
    assert eventually(lambda: taken.content() == "production 1\n" and victim.content() == "production 1\n",
                      timeout=30)
    mine, other = taken.agent.agent_id or "", victim.agent.agent_id or ""
    targets = [f"{subjects.inbox_prefix(other)}.x", subjects.agent_control(other), subjects.agent_control(mine),
               "_INBOX.x", subjects.policy_kv_subject("production"), f"{subjects.inbox_prefix(mine)}.*",
               f"{subjects.inbox_prefix(mine)}.>", subjects.inbox_prefix(mine), f"{subjects.inbox_prefix(mine)}..x",
               f"{subjects.inbox_prefix(public(new_key()))}.x", subjects.master_api()]

    async def attack() -> list[str]:
        master = await connect(fleet.urls, master_seed(fleet))
        watcher = await master.connection.subscribe(">")
        await round_trip(master.connection)
        hostile = await connect(fleet.urls, agent_seed(taken), subjects.inbox_prefix(mine))
        for reply in targets:
            await hostile.connection.publish(subjects.inventory_request(mine), ASK, reply=reply)
        await hostile.connection.publish(subjects.inventory_request(mine), ASK)  # no reply subject at all
        await round_trip(hostile.connection)
        leaked = [message.subject for message in await drain(watcher, quiet=1.0) if message.subject in targets]
        await hostile.connection.close()
        await master.connection.close()
        return leaked

    assert run(attack()) == []
    assert fleet.master is not None
    counts = fleet.master.security.counts()
    assert counts.get("inventory.foreign-reply", 0) >= len(targets) - 1
    assert counts.get("inventory.no-reply", 0) >= 1


def test_bad_requests_are_answered_with_errors_and_a_flood_is_cut(fleet: Fleet) -> None:
    taken, stage = fleet.agent("prod-taken"), fleet.agent("stage-1")
    assert eventually(lambda: taken.content() == "production 1\n" and stage.content() == "staging 1\n", timeout=30)
    mine = taken.agent.agent_id or ""
    subject, prefix = subjects.inventory_request(mine), subjects.inbox_prefix(mine)
    everywhere = encode(InventoryRequest(query="exists(hostname)", fields=("hostname",), scope="all"))
    own = encode(InventoryRequest(query="exists(hostname)", fields=("hostname",)))

    async def attack() -> tuple[list[InventoryReply | None], int]:
        hostile = await connect(fleet.urls, agent_seed(taken), prefix)
        replies = []
        for payload in (b"\x00\xff not json", b"{}", b"x" * 200_000, encode(InventoryRequest(query="role == =")),
                        everywhere, own):
            answer = await hostile.connection.request(subject, payload, timeout=5)
            replies.append(decode(InventoryReply, answer.data))
        inbox = await hostile.connection.subscribe(f"{prefix}.flood")
        for _ in range(400):
            await hostile.connection.publish(subject, own, reply=f"{prefix}.flood")
        await round_trip(hostile.connection)
        answered = len(await drain(inbox, quiet=1.0))
        await hostile.connection.close()
        return replies, answered

    replies, answered = run(attack())
    malformed, empty, oversized, syntax, scope_all, good = replies
    assert malformed is not None and not malformed.ok and "malformed" in malformed.error
    assert empty is not None and not empty.ok
    assert oversized is not None and not oversized.ok and "too large" in oversized.error
    assert syntax is not None and not syntax.ok and "column 9" in syntax.error
    assert scope_all is not None and not scope_all.ok and "inventory_scope" in scope_all.error
    # its own environment only: the staging agent is not in the answer
    assert good is not None and good.ok and good.rows == [{"hostname": "prod-taken"}]
    assert answered < 400
    assert fleet.master is not None and fleet.master.security.counts().get("inventory.rate-key", 0) > 0
    # another agent's requests go on meanwhile
    assert eventually(lambda: stage.agent.bus is not None)

    async def legitimate() -> InventoryReply | None:
        stage_id = stage.agent.agent_id or ""
        client = await connect(fleet.urls, agent_seed(stage), subjects.inbox_prefix(stage_id))
        answer = await client.connection.request(subjects.inventory_request(stage_id), own, timeout=5)
        await client.connection.close()
        return decode(InventoryReply, answer.data)

    reply = run(legitimate())
    assert reply is not None and reply.ok and reply.rows == [{"hostname": "stage-1"}]
