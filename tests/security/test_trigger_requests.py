"""Triggers (`partout.trigger.<name>`) against hostile use, on a real partout-nats whose auth
callout a real master answers, with real integration and agent credentials.

Who may publish there is the server's business (operators and trigger integrations); who
may fire is the master's: the request must be signed, fresh, new, by an operator key or an
active trigger integration's, and within its sender's rate. Whatever is refused is counted,
logged and recorded (`partout events`), and reaches no agent; answers go only into the
signer's own inbox. Agents' control subjects are watched with the master's key."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from securityenv import (
    Fleet, agent_seed, connect, drain, eventually, legitimate_traffic_works, master_seed, run,
)
from triggerenv import ControlWatcher, add_integration, new_key, public, seed_agents, signed_request

from partout import subjects
from partout.bus.connection import round_trip
from partout.master.daemon import Master
from partout.operator import OperatorClient
from partout.wire.triggers import MAX_TRIGGER_BYTES

ROLES = {"app1": "app", "app2": "app", "db1": "db"}


@pytest.fixture
def watched(fleet: Fleet) -> Iterator[tuple[Fleet, Master, dict[str, str], ControlWatcher]]:
    assert fleet.master is not None
    agents = seed_agents(fleet.master, ROLES)
    watcher = ControlWatcher(fleet.urls, fleet.nats_state / "keys" / "master.nk")
    try:
        yield fleet, fleet.master, agents, watcher
    finally:
        watcher.close()


def integration_client(fleet: Fleet, name: str, role: str) -> tuple[OperatorClient, Any]:
    seed_file, key_pair = add_integration(fleet.operator, fleet.directory, name, role)
    return OperatorClient.connect(fleet.urls, key_file=seed_file, timeout=10), key_pair


def publish(client: OperatorClient, subject: str, data: bytes, reply: str = "") -> None:
    client._bus.publish(subject, data, reply=reply)  # raw, as a hostile holder of the seed would
    client._bus.flush().get(timeout=10)


def fence(fleet: Fleet, watcher: ControlWatcher, agent_id: str) -> None:
    """An operator trigger through the same router: what was sent before it has been handled."""
    name = f"fence-{public(new_key())[-8:].lower()}"
    fleet.operator.trigger(name, f"id == '{agent_id}'")
    assert watcher.wait_for(name, {agent_id})


def test_a_trigger_integration_fires_one_while_a_reader_and_an_agent_cannot_publish_one(watched: Any) -> None:
    fleet, master, agents, watcher = watched
    deployer, _ = integration_client(fleet, "deployer", "trigger")
    apps = {agents["app1"], agents["app2"]}
    reply = deployer.trigger("deploy", "role == 'app'", {"version": "2.0"})
    assert set(reply.reached) == apps and watcher.wait_for("deploy", apps)
    assert {one.sender for _, fired in watcher.triggers() for one in fired} == {"deployer"}
    [listed] = fleet.operator.events()["triggers"]
    assert listed["sender"] == "deployer" and listed["status"] == "fired"
    deployer.close()

    seed_file, reader_key = add_integration(fleet.operator, fleet.directory, "dashboard", "reader")
    agent = legitimate_traffic_works(fleet, "prod-agent")

    async def attack() -> list[str]:
        violations = []
        for seed, inbox, key_pair in ((reader_key.seed.decode(), subjects.inbox_prefix(public(reader_key)), reader_key),
                                      (agent_seed(agent), subjects.inbox_prefix(agent.agent.agent_id or ""), None)):
            hostile = await connect(fleet.urls, seed, inbox)
            request = signed_request(key_pair or new_key(), "forbidden", "true")
            await hostile.connection.publish(subjects.trigger("forbidden"), request)
            await round_trip(hostile.connection)
            await hostile.wait_for_errors(1)
            violations.append(hostile.violations())
            await hostile.connection.close()
        return violations

    for violations in run(attack()):
        assert 'permissions violation for publish to "partout.trigger.forbidden"' in violations
    fence(fleet, watcher, agents["db1"])
    assert watcher.reached("forbidden") == set()
    assert [entry["name"] for entry in fleet.operator.events()["triggers"]][-1] == "deploy"


def test_requests_signed_by_keys_that_may_not_fire_are_refused_logged_recorded_and_reach_nobody(
        watched: Any, caplog: pytest.LogCaptureFixture) -> None:
    fleet, master, agents, watcher = watched
    deployer, deployer_key = integration_client(fleet, "deployer", "trigger")
    _, reader_key = add_integration(fleet.operator, fleet.directory, "dashboard", "reader")
    _, gone_key = add_integration(fleet.operator, fleet.directory, "old-ci", "trigger")
    fleet.operator.remove_integration("old-ci")
    agent_key = new_key()  # an approved agent's own key
    master.store.upsert_pending(public(agent_key), "app7", {"custom": {"role": "app"}})
    master.store.approve(public(agent_key), "production")
    operator_key = fleet.operator.public_key
    caplog.set_level(logging.WARNING, logger="partout.master.triggers")

    for key_pair in (agent_key, reader_key, gone_key, new_key()):
        publish(deployer, subjects.trigger("sneaky"), signed_request(key_pair, "sneaky"))
    publish(deployer, subjects.trigger("sneaky"), signed_request(deployer_key, "sneaky", public_key=operator_key))
    replayed = signed_request(deployer_key, "once", "role == 'app'")
    publish(deployer, subjects.trigger("once"), replayed)
    publish(deployer, subjects.trigger("once"), replayed)
    publish(deployer, subjects.trigger("big"), signed_request(deployer_key, "big", data={"x": "y" * MAX_TRIGGER_BYTES}))
    publish(deployer, subjects.trigger("bad"), b"{not json")
    publish(deployer, subjects.trigger("other-name"), signed_request(deployer_key, "sneaky"))

    security = master.security
    assert eventually(lambda: security["trigger.not-allowed"] == 4 and security["trigger.bad-signature"] == 1
                      and security["trigger.replay"] == 1 and security["trigger.oversized"] == 1
                      and security["trigger.malformed"] == 2, timeout=20), security.counts()
    fence(fleet, watcher, agents["db1"])
    assert watcher.reached("sneaky") == set() and watcher.reached("once") == {agents["app1"], agents["app2"],
                                                                             master.store.get_agent(public(agent_key)).agent_id}
    refused = [entry for entry in fleet.operator.events()["triggers"] if entry["status"] == "refused"]
    reasons = sorted(entry["reason"] for entry in refused)
    assert len(refused) == 6 and all(entry["reached"] == [] for entry in refused)
    assert "integration 'dashboard' has the reader role, not trigger" in reasons
    assert "integration 'old-ci' was removed" in reasons
    assert reasons.count("this key is neither an operator's nor an integration's") == 2
    assert "signature check failed: signature does not verify" in reasons
    assert "replayed request (its nonce was already used)" in reasons
    logged = [record.getMessage() + json.dumps(getattr(record, "reason", "")) + str(getattr(record, "sender", ""))
              for record in caplog.records if record.getMessage() == "trigger refused"]
    assert len(logged) == 6 and any("old-ci" in line for line in logged)
    assert not any(deployer_key.seed.decode() in record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert deployer.trigger("after", "role == 'db'").reached == [agents["db1"]]  # legitimate traffic goes on
    deployer.close()


def test_no_answer_goes_to_a_reply_subject_outside_the_signers_own_inbox(watched: Any) -> None:
    fleet, master, agents, watcher = watched
    deployer, deployer_key = integration_client(fleet, "deployer", "trigger")
    targets = [f"{subjects.inbox_prefix(fleet.operator.public_key)}.stolen", subjects.agent_report(agents["db1"])]

    async def attack() -> list[Any]:
        watching = await connect(fleet.urls, master_seed(fleet))
        seen = [await watching.connection.subscribe(target) for target in targets]
        await round_trip(watching.connection)
        for number, target in enumerate(targets):
            request = signed_request(deployer_key, f"bounce{number}", f"id == '{agents['app1']}'")
            await watching.connection.publish(subjects.trigger(f"bounce{number}"), request, reply=target)
        await round_trip(watching.connection)
        assert await eventually_async_counter(master, "trigger.foreign-reply", 2)
        found = [message for subscription in seen for message in await drain(subscription, quiet=0.3)]
        await watching.connection.close()
        return found

    assert run(attack()) == []
    assert watcher.wait_for("bounce1", {agents["app1"]})  # the triggers themselves were fine
    deployer.close()


async def eventually_async_counter(master: Master, reason: str, count: int) -> bool:
    from helpers import eventually_async

    return await eventually_async(lambda: master.security[reason] >= count, timeout=20)


def test_a_flooding_integration_spends_its_own_budget_and_a_storm_is_one_control_per_window(watched: Any) -> None:
    fleet, master, agents, watcher = watched
    flooder, flooder_key = integration_client(fleet, "flooder", "trigger")
    names = [f"storm{number % 5}" for number in range(300)]
    for name in names:  # a storm to the same agents, as fast as one connection goes
        flooder._bus.publish(subjects.trigger(name), signed_request(flooder_key, name, "role == 'app'"))
    urgent = fleet.operator.trigger("urgent", "role == 'db'")  # the operator's budget is its own
    assert urgent.reached == [agents["db1"]] and watcher.wait_for("urgent", {agents["db1"]})
    flooder._bus.flush().get(timeout=10)
    router = master.child("triggers")
    assert router is not None

    def handled() -> int:
        fired = [entry for entry in fleet.operator.events(limit=10_000)["triggers"] if entry["sender"] == "flooder"]
        return len(fired) + master.security["trigger.rate-key"] + master.security["trigger.rate-overall"]

    assert eventually(lambda: handled() == len(names), timeout=60), handled()
    assert master.security["trigger.rate-key"] > 0
    admitted = len(names) - master.security["trigger.rate-key"]
    fence(fleet, watcher, agents["app1"])
    for agent_id in (agents["app1"], agents["app2"]):
        controls = [control for heard, control in watcher.controls if heard == agent_id
                    and control.command == "trigger"]
        times = [control.sent_at for control in controls if control.sent_at is not None]
        # merged: far fewer controls than triggers, each window's at most one (the master's clock)
        assert len(controls) < admitted
        gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
        assert all(gap >= 0.9 * fleet.master_config().trigger_coalesce_window for gap in gaps), gaps
    assert eventually(lambda: watcher.reached_names(agents["app2"]) >= set(names))  # every name, merged
    flooder.close()
