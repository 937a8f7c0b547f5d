"""Attack 1: an identity publishes where it subscribes, or answers a request, to publish anywhere.

Every role's table names what it may publish, never where it subscribes, and grants no
`resp`; the reply-subject trick is tried live against every identity; a taken-over agent
tries the subjects of the original report (other agents' reports, its control subject, the
policy KV, the JetStream API) and gets permission violations; legitimate traffic goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from natsenv import secured_backbone
from securityenv import (
    Fleet, agent_seed, connect, drain, eventually, kv_value, kv_verifies, legitimate_traffic_works, master_seed,
    new_key, public, run, seed_of,
)

from partout import subjects
from partout.bus.connection import round_trip
from partout.nats import permissions
from partout.nats.permissions import Permissions, Role

ROLES: dict[str, tuple[Role, Callable[[str], Permissions]]] = {
    "agent": (Role.AGENT, lambda key: permissions.agent("web1", "production", key)),
    "pending": (Role.PENDING, permissions.pending),
    "operator": (Role.OPERATOR, permissions.operator),
    "reader": (Role.READER, permissions.reader),
    "trigger": (Role.TRIGGER, permissions.trigger),
}


def overlap(first: str, second: str) -> bool:
    """Whether some subject matches both NATS patterns."""
    a, b = first.split("."), second.split(".")
    for index, (x, y) in enumerate(zip(a, b)):
        if ">" in (x, y):
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(a) == len(b)


def concrete(pattern: str) -> str:
    """A subject the pattern matches."""
    return ".".join("x" if token in ("*", ">") else token for token in pattern.split("."))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_role_publishes_where_it_subscribes_or_answers_requests(role: str) -> None:
    rights = ROLES[role][1](public(new_key()))
    assert not rights.allow_responses and "resp" not in rights.claims()
    for published in rights.publish_allow:
        assert not any(overlap(published, read) for read in rights.subscribe_allow), (published, rights)
    assert ">" not in rights.publish_allow and "partout.>" not in rights.publish_allow


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_reply_subject_trick_fails_for_every_identity(role: str, tmp_path: Path) -> None:
    with secured_backbone(tmp_path) as env:
        key = new_key()
        rights = ROLES[role][1](public(key))
        env.table[public(key)] = (ROLES[role][0], rights)
        target = "$KV.partout-policy.production"

        async def attack() -> tuple[list[str], str, int]:
            master = await connect(env.urls, seed_of_file(env.master.seed_file))
            watcher = await master.connection.subscribe(">")
            hostile = await connect(env.urls, seed_of(key), subjects.inbox_prefix(public(key)))
            bounced: list[object] = []
            arrived = asyncio.Event()

            async def keep(message: object) -> None:
                bounced.append(message)
                arrived.set()

            readable = [concrete(pattern) for pattern in rights.subscribe_allow]
            for subject in readable:
                await hostile.connection.subscribe(subject, cb=keep)
            await round_trip(hostile.connection)
            for subject in readable:  # bounce a message off each subject it reads
                await hostile.connection.publish(subject, b"bounce", reply=target)
            await round_trip(hostile.connection)
            # a request it legitimately receives, with a hostile reply subject: answering it fails
            await master.connection.publish(readable[0], b"request", reply=target)
            await round_trip(master.connection)
            await asyncio.wait_for(arrived.wait(), timeout=5)
            for message in bounced:
                await message.respond(b"forged answer")  # type: ignore[attr-defined]
            await round_trip(hostile.connection)
            await hostile.wait_for_errors(len(readable) + len(bounced))
            seen = [message for message in await drain(watcher) if message.subject == target
                    or message.data in (b"bounce", b"forged answer")]
            await hostile.connection.close()
            await master.connection.close()
            return hostile.errors, " ".join(hostile.errors).lower(), len(seen)

        errors, violations, leaked = run(attack())
        assert leaked == 0, errors
        for pattern in rights.subscribe_allow:
            assert f'permissions violation for publish to "{concrete(pattern).lower()}"' in violations
        assert f'permissions violation for publish to "{target.lower()}"' in violations


def seed_of_file(path: Path) -> str:
    return path.read_text().strip()


def test_a_taken_over_agent_reaches_nothing_but_its_own_subjects(fleet: Fleet) -> None:
    victim, hostile_agent = fleet.agent("prod-victim"), fleet.agent("prod-taken")
    stage = fleet.agent("stage-1")
    assert eventually(lambda: victim.content() == "production 1\n" and hostile_agent.content() == "production 1\n"
                      and stage.content() == "staging 1\n", timeout=30)
    mine, other = hostile_agent.agent.agent_id or "", victim.agent.agent_id or ""
    staging_before = kv_value(fleet, "staging").revision
    forbidden = [
        subjects.agent_report(other), subjects.agent_facts(other), subjects.agent_events(other),
        subjects.agent_control(mine), f"partout.agent.{mine}.anything", subjects.agent_control(other),
        subjects.policy_kv_subject("staging"), subjects.policy_updates("production"), subjects.master_api(),
        subjects.enrol(public(new_key())), subjects.ENROL, subjects.trigger("all"), subjects.node_event(other, "file", "ok"),
        "$JS.API.STREAM.DELETE.PARTOUT_REPORTS", "$JS.API.STREAM.PURGE.PARTOUT_EVENTS",
        "$JS.API.STREAM.CREATE.capture", "$JS.API.CONSUMER.CREATE.KV_partout-policy",
        f"$JS.API.DIRECT.GET.KV_partout-policy.{subjects.policy_kv_subject('staging')}",
    ]

    async def attack() -> tuple[str, list[str]]:
        master = await connect(fleet.urls, master_seed(fleet))
        watcher = await master.connection.subscribe("partout.>")
        hostile = await connect(fleet.urls, agent_seed(hostile_agent), subjects.inbox_prefix(mine))
        control = await hostile.connection.subscribe(subjects.agent_control(mine))
        for subject in ["partout.>", subjects.agent_control(other), subjects.policy_updates("staging"), "_INBOX.>"]:
            await hostile.connection.subscribe(subject)
        await round_trip(hostile.connection)
        for subject in forbidden:
            await hostile.connection.publish(subject, b"forged", reply=subjects.policy_kv_subject("staging"))
        await round_trip(hostile.connection)
        # the master's own control message, with a reply subject the attacker would love to answer
        await master.connection.publish(subjects.agent_control(mine), b'{"command": "noop"}',
                                        reply=subjects.policy_kv_subject("staging"))
        await round_trip(master.connection)
        received = await control.next_msg(timeout=5)
        await received.respond(b"forged answer")
        await round_trip(hostile.connection)
        await hostile.wait_for_errors(len(forbidden) + 5)
        leaked = [message.subject for message in await drain(watcher) if message.data in (b"forged", b"forged answer")]
        await hostile.connection.close()
        await master.connection.close()
        return hostile.violations(), leaked

    violations, leaked = run(attack())
    assert leaked == []
    for subject in forbidden:
        assert f'permissions violation for publish to "{subject.lower()}"' in violations, subject
    assert 'permissions violation for subscription to "partout.>"' in violations
    assert 'permissions violation for subscription to "_inbox.>"' in violations
    assert f'permissions violation for publish to "{subjects.policy_kv_subject("staging").lower()}"' in violations
    assert kv_value(fleet, "staging").revision == staging_before and kv_verifies(fleet, "staging")
    assert fleet.master is not None
    for stream in (subjects.REPORTS_STREAM, subjects.EVENTS_STREAM):
        assert fleet.master.bus.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5).get(timeout=10).data
    legitimate_traffic_works(fleet, "prod-legit")
    assert stage.content() == "staging 1\n" and victim.content() == "production 1\n"


def test_jetstream_answers_redirected_by_an_agent_are_dropped_or_repaired(fleet: Fleet) -> None:
    """NATS does not check reply subjects: an agent can have JetStream send a pub-ack or its own
    environment's bundle wherever it likes. The master replaces a policy value that does not
    verify, and agents drop updates that do not come from the policy stream."""
    hostile_agent, stage = fleet.agent("prod-taken"), fleet.agent("stage-1")
    assert eventually(lambda: hostile_agent.content() == "production 1\n" and stage.content() == "staging 1\n",
                      timeout=30)
    mine = hostile_agent.agent.agent_id or ""
    assert fleet.master is not None

    async def attack() -> None:
        hostile = await connect(fleet.urls, agent_seed(hostile_agent), subjects.inbox_prefix(mine))
        get = subjects.policy_direct_get("production")
        # a pub-ack into production's KV value, production's bundle into staging's
        await hostile.connection.publish(subjects.agent_events(mine), b"{}",
                                         reply=subjects.policy_kv_subject("production"))
        await hostile.connection.publish(get, b"", reply=subjects.policy_kv_subject("staging"))
        await hostile.connection.publish(get, b"", reply=subjects.policy_updates("staging"))
        await hostile.connection.publish(get, b"", reply=subjects.agent_control(stage.agent.agent_id or ""))
        await round_trip(hostile.connection)
        await hostile.connection.close()

    run(attack())
    security = fleet.master.security
    assert eventually(lambda: security["policy.kv-value-replaced"] >= 2, timeout=15)
    assert eventually(lambda: kv_verifies(fleet, "staging") and kv_verifies(fleet, "production"), timeout=15)
    assert eventually(lambda: stage.agent.status.policy_updates_dropped >= 1, timeout=10)
    assert stage.content() == "staging 1\n" and hostile_agent.content() == "production 1\n"
    fleet.write_policy("staging", "staging 2\n")  # distribution still works
    assert eventually(lambda: stage.content() == "staging 2\n", timeout=30)
    legitimate_traffic_works(fleet, "prod-legit")
