"""Integrations' identities against hostile use: a reader or trigger seed in the wrong hands.

Each integration is made by the real CLI (`partout integrations add`), and its real seed
file is used by a plain nats-py client against a real partout-nats + master: a reader
publishes nothing and reads only partout.node.> and its own inbox; a trigger adds publishing
partout.trigger.> and nothing else; neither can bounce a reply anywhere; a removed one is
disconnected and refused; an unknown key gets only what it got before (enrolment)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from helpers import run_partout
from securityenv import (
    Fleet, Hostile, add_integration, as_integration, connect, drain, eventually, legitimate_traffic_works, master_seed,
    new_key, public, run, seed_of,
)

from partout import subjects
from partout.bus.connection import round_trip
from partout.nats.keys import USER, load_seed
from partout.nats.permissions import Role

VICTIM = "0b1c7e4e-0000-4000-8000-000000000001"  # an agent id, as an attacker would aim at one
KV_TARGET = subjects.policy_kv_subject("production")


async def observer(fleet: Fleet) -> tuple[Hostile, Any]:
    """The master's key sees every subject of the account: nothing forbidden may show up."""
    watching = await connect(fleet.urls, master_seed(fleet))
    return watching, await watching.connection.subscribe(">")


FORBIDDEN_PUBLISH = [
    subjects.trigger("x"), subjects.agent_report(VICTIM), subjects.agent_facts(VICTIM), subjects.agent_events(VICTIM),
    subjects.agent_control(VICTIM), "$JS.API.STREAM.INFO.PARTOUT_REPORTS", "$JS.API.STREAM.DELETE.PARTOUT_EVENTS",
    KV_TARGET, subjects.node_event(VICTIM, "file", "changed"), subjects.master_api(), "partout.policy.production",
]


def test_a_reader_can_publish_nothing(fleet: Fleet) -> None:
    seed_file, key = add_integration(fleet, "dashboard", "reader")
    forbidden = [*FORBIDDEN_PUBLISH, subjects.enrol(key), f"{subjects.inbox_prefix(key)}.x"]

    async def attack() -> tuple[str, list[str]]:
        watching, everything = await observer(fleet)
        reader = await as_integration(fleet, seed_file, key)
        for subject in forbidden:
            await reader.connection.publish(subject, b"forged")
        await round_trip(reader.connection)
        await reader.wait_for_errors(len(forbidden))
        leaked = [message.subject for message in await drain(everything) if message.data == b"forged"]
        await reader.connection.close()
        await watching.connection.close()
        return reader.violations(), leaked

    violations, leaked = run(attack())
    assert leaked == []
    for subject in forbidden:
        assert f'permissions violation for publish to "{subject.lower()}"' in violations, subject
    legitimate_traffic_works(fleet, "prod-after-reader")


def test_a_reader_cannot_subscribe_to_agents_other_inboxes_or_the_apis(fleet: Fleet) -> None:
    seed_file, key = add_integration(fleet, "dashboard", "reader")
    other = public(new_key())
    forbidden = ["partout.agent.>", subjects.agent_control(VICTIM), "_INBOX.>", subjects.inbox_all(other),
                 subjects.inbox_all(VICTIM), ">", "partout.>", "$JS.API.>", "$KV.>", subjects.TRIGGERS_ALL,
                 subjects.master_api(), "partout.policy.*", "$SYS.>"]

    async def attack() -> tuple[str, list[Any]]:
        reader = await as_integration(fleet, seed_file, key)
        subscriptions = [await reader.connection.subscribe(subject) for subject in forbidden]
        await round_trip(reader.connection)
        await reader.wait_for_errors(len(forbidden))
        master = await connect(fleet.urls, master_seed(fleet))
        for subject in (subjects.agent_control(VICTIM), f"{subjects.inbox_prefix(other)}.reply", "_INBOX.x",
                        subjects.trigger("x"), subjects.master_api()):
            await master.connection.publish(subject, b"secret")
        await round_trip(master.connection)
        received = [message for subscription in subscriptions for message in await drain(subscription, quiet=0.2)]
        await reader.connection.close()
        await master.connection.close()
        return reader.violations(), received

    violations, received = run(attack())
    assert received == []
    for subject in forbidden:
        assert f'permissions violation for subscription to "{subject.lower()}"' in violations, subject


def test_a_reader_receives_node_events_in_its_own_inbox_and_nothing_else_changes(fleet: Fleet) -> None:
    seed_file, key = add_integration(fleet, "dashboard", "reader")

    async def listen() -> tuple[list[tuple[str, bytes]], list[str]]:
        reader = await as_integration(fleet, seed_file, key)
        events = await reader.connection.subscribe(subjects.NODE_EVENTS_ALL)
        inbox = await reader.connection.subscribe(subjects.inbox_all(key))
        await round_trip(reader.connection)
        assert fleet.master is not None and fleet.master.bus is not None
        fleet.master.bus.publish(subjects.node_event(VICTIM, "file", "changed"), b'{"status": "changed"}')
        master = await connect(fleet.urls, master_seed(fleet))
        await master.connection.publish(f"{subjects.inbox_prefix(key)}.answer", b"for you")
        await round_trip(master.connection)
        got = [(message.subject, message.data) for message in await drain(events, quiet=1.0)]
        got += [(message.subject, message.data) for message in await drain(inbox, quiet=0.3)]
        await reader.connection.close()
        await master.connection.close()
        return got, reader.errors

    got, errors = run(listen())
    assert errors == []
    assert got == [(f"partout.node.{VICTIM}.file.changed", b'{"status": "changed"}'),
                   (f"{subjects.inbox_prefix(key)}.answer", b"for you")]


@pytest.mark.parametrize("role", ["reader", "trigger"])
def test_the_reply_subject_trick_fails_for_integrations(fleet: Fleet, role: str) -> None:
    """It may read node events and its inbox; answering one with a hostile reply subject, or
    bouncing a message off what it reads, would publish there: both are refused."""
    seed_file, key = add_integration(fleet, f"bouncer-{role}", role)
    readable = [subjects.node_event(VICTIM, "file", "changed"), f"{subjects.inbox_prefix(key)}.x"]
    targets = [KV_TARGET, subjects.agent_report(VICTIM), "$JS.API.STREAM.DELETE.PARTOUT_REPORTS"]

    async def attack() -> tuple[str, list[str]]:
        watching, everything = await observer(fleet)
        hostile = await as_integration(fleet, seed_file, key)
        received: list[Any] = []
        arrived = asyncio.Event()

        async def keep(message: Any) -> None:
            received.append(message)
            if len(received) == len(readable) * len(targets):
                arrived.set()

        for subject in (subjects.NODE_EVENTS_ALL, subjects.inbox_all(key)):
            await hostile.connection.subscribe(subject, cb=keep)
        await round_trip(hostile.connection)
        for subject in readable:  # bounce off what it reads
            for target in targets:
                await hostile.connection.publish(subject, b"bounce", reply=target)
        # requests it legitimately receives, with hostile reply subjects: answering fails
        for subject in readable:
            for target in targets:
                await watching.connection.publish(subject, b"request", reply=target)
        await round_trip(watching.connection)
        await asyncio.wait_for(arrived.wait(), timeout=10)
        for message in received:
            await message.respond(b"forged answer")
        if role == "trigger":  # what it may publish carries a reply subject: nothing answers it
            for target in targets:
                await hostile.connection.publish(subjects.trigger("x"), b"bounce", reply=target)
        await round_trip(hostile.connection)
        expected = 2 * len(readable) * len(targets)
        await hostile.wait_for_errors(expected)
        seen = [message.subject for message in await drain(everything, quiet=1.0)
                if message.subject in targets or message.data in (b"bounce", b"forged answer")]
        await hostile.connection.close()
        await watching.connection.close()
        return hostile.violations(), seen

    violations, seen = run(attack())
    # the trigger's own publish reaches partout.trigger.x (its right); nothing reaches a target
    assert [subject for subject in seen if subject != subjects.trigger("x")] == []
    for target in targets:
        assert f'permissions violation for publish to "{target.lower()}"' in violations
    for subject in readable:
        assert f'permissions violation for publish to "{subject.lower()}"' in violations


def test_a_trigger_publishes_triggers_and_nothing_else(fleet: Fleet) -> None:
    seed_file, key = add_integration(fleet, "deployer", "trigger")

    async def attack() -> tuple[str, list[tuple[str, bytes]]]:
        watching, everything = await observer(fleet)
        trigger = await as_integration(fleet, seed_file, key)
        await trigger.connection.publish(subjects.trigger("deploy-web"), b"go")
        forbidden = [subject for subject in FORBIDDEN_PUBLISH if not subject.startswith("partout.trigger.")]
        forbidden += [subjects.enrol(key), "partout.triggerx", "partout.trigger"]
        for subject in forbidden:
            await trigger.connection.publish(subject, b"forged")
        await trigger.connection.subscribe(subjects.TRIGGERS_ALL)  # it may not read what it publishes
        await round_trip(trigger.connection)
        await trigger.wait_for_errors(len(forbidden) + 1)
        seen = [(message.subject, message.data) for message in await drain(everything, quiet=1.0)
                if message.data in (b"go", b"forged")]
        await trigger.connection.close()
        await watching.connection.close()
        for subject in forbidden:
            assert f'permissions violation for publish to "{subject.lower()}"' in trigger.violations(), subject
        return trigger.violations(), seen

    violations, seen = run(attack())
    assert seen == [("partout.trigger.deploy-web", b"go")]
    assert f'permissions violation for subscription to "{subjects.TRIGGERS_ALL}"' in violations
    legitimate_traffic_works(fleet, "prod-after-trigger")


def test_a_removed_integration_is_disconnected_and_refused(fleet: Fleet) -> None:
    seed_file, key = add_integration(fleet, "dashboard", "reader")
    _, kept_key = add_integration(fleet, "kept", "reader")

    async def connected() -> tuple[Hostile, asyncio.Event]:
        closed = asyncio.Event()

        async def on_closed() -> None:
            closed.set()

        seed = load_seed(seed_file, USER).decode()
        reader = await connect(fleet.urls, seed, subjects.inbox_prefix(key), closed_cb=on_closed)
        await reader.connection.subscribe(subjects.NODE_EVENTS_ALL)
        await round_trip(reader.connection)
        return reader, closed

    async def scenario() -> tuple[str, str]:
        reader, closed = await connected()
        removed = await asyncio.to_thread(run_partout, "integrations", "remove", "dashboard",
                                          *fleet.operator_args(), timeout=60)
        assert removed.returncode == 0, removed.stderr
        assert "1 connection(s) closed" in removed.stdout, removed.stdout
        await asyncio.wait_for(closed.wait(), timeout=10)
        try:
            await as_integration(fleet, seed_file, key)
        except Exception as error:  # nats-py raises the server's -ERR
            return removed.stdout, str(error)
        return removed.stdout, "connected"

    _, refusal = run(scenario())
    assert "authorization violation" in refusal.lower()
    listed = run_partout("integrations", "list", "--json", *fleet.operator_args(), timeout=60)
    assert [item["public_key"] for item in json.loads(listed.stdout)] == [kept_key]
    assert fleet.master is not None
    found = fleet.master.store.integration_by_public_key(key)
    assert found is not None and found.removed
    legitimate_traffic_works(fleet, "prod-after-removal")


def test_an_unknown_key_gets_no_integration_rights(fleet: Fleet) -> None:
    stranger = new_key()

    async def attack() -> str:
        hostile = await connect(fleet.urls, seed_of(stranger), subjects.inbox_prefix(public(stranger)))
        await hostile.connection.subscribe(subjects.NODE_EVENTS_ALL)
        await hostile.connection.publish(subjects.trigger("x"), b"forged")
        await round_trip(hostile.connection)
        await hostile.wait_for_errors(2)
        await hostile.connection.close()
        return hostile.violations()

    violations = run(attack())
    assert f'permissions violation for subscription to "{subjects.NODE_EVENTS_ALL}"' in violations
    assert 'permissions violation for publish to "partout.trigger.x"' in violations


def test_the_callout_names_integration_roles_by_their_key(fleet: Fleet) -> None:
    """What CONNZ (and so the kick) sees: the integration's public key, and its role's rights."""
    from partout.master.integrations import integration_decision

    _, key = add_integration(fleet, "deployer", "trigger")
    assert fleet.master is not None
    decision = integration_decision(fleet.master.store.integration_by_public_key(key))
    assert decision is not None and decision.role is Role.TRIGGER and decision.name == key
    assert decision.permissions is not None and decision.permissions.publish_allow == (subjects.TRIGGERS_ALL,)
