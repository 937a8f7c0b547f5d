"""Triggers through a real master on a real partout-nats: an operator's trigger reaches
exactly the approved agents its query selects (every environment), as Control "trigger"
on their control subjects; a bad query is refused with its column; event rules fire
triggers from agents' event batches. (Attacks: tests/security/test_trigger_requests.py.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import eventually
from test_master_support import MasterEnv, master_env  # noqa: F401
from triggerenv import ControlWatcher, seed_agents

from partout import subjects
from partout.events.counts import build_batch
from partout.events.wire import Level
from partout.master.daemon import Master
from partout.master.trigger_rules import TriggerRule
from partout.operator import OperatorClient, OperatorError, default_key_file
from partout.report import Status
from partout.wire import encode

ROLES = {"app1": "app", "app2": "app", "db1": "db", "web1": "web"}
RULE = TriggerRule.model_validate({"name": "openssl-restarts-app", "event": "package:openssl*:changed",
                                   "from": "role == 'db'", "trigger": "restart-app", "where": "role == 'app'",
                                   "data": {"reason": "openssl updated"}})


@pytest.fixture
def setup(master_env: MasterEnv) -> Iterator[tuple[Master, dict[str, str], OperatorClient, ControlWatcher]]:  # noqa: F811
    master = master_env.master(trigger_window=0.3, trigger_rules=(RULE,))
    watcher = operator = None
    try:
        agents = seed_agents(master, ROLES)
        agents.update(seed_agents(master, {"app9": "app"}, environment="staging"))
        master.store.upsert_pending("U" + "P" * 55, "app-pending", {"custom": {"role": "app"}})
        watcher = ControlWatcher(master_env.urls, master_env.nats_state / "keys" / "master.nk")
        operator = OperatorClient.connect(master_env.urls, key_file=default_key_file(master_env.nats_state), timeout=10)
        yield master, agents, operator, watcher
    finally:
        for closing in (operator, watcher):
            if closing is not None:
                closing.close()
        master.stop()


def test_an_operator_trigger_reaches_exactly_the_matching_approved_agents(setup: Any) -> None:
    master, agents, operator, watcher = setup
    reply = operator.trigger("restart-app", "role == 'app'", {"version": "1.2"})
    apps = {agents["app1"], agents["app2"], agents["app9"]}  # every environment; not the pending one
    assert set(reply.reached) == apps and reply.ok and reply.warnings == [] and reply.trigger_id
    assert watcher.wait_for("restart-app", apps)
    [(_, fired)] = [entry for entry in watcher.triggers() if entry[0] == agents["app1"]]
    assert fired[0].data == {"version": "1.2"} and fired[0].trigger_id == reply.trigger_id
    assert fired[0].sender == f"operator {operator.public_key[:8]}"
    # the events verb lists it, with its sender and the agents it reached
    [listed] = operator.events()["triggers"]
    assert listed["name"] == "restart-app" and set(listed["reached"]) == apps and listed["status"] == "fired"
    assert listed["sender_key"] == operator.public_key and listed["data"] == {"version": "1.2"}
    assert [entry["name"] for entry in operator.events(agent=agents["app2"])["triggers"]] == ["restart-app"]
    assert operator.events(agent=agents["db1"])["triggers"] == []
    assert watcher.reached("restart-app") == apps  # nobody else got it


def test_an_unknown_fact_answers_nothing_with_a_warning_and_a_bad_query_is_refused_with_its_column(
        setup: Any) -> None:
    master, agents, operator, watcher = setup
    reply = operator.trigger("deploy", "colour == 'blue'")
    assert reply.reached == [] and any("colour" in warning for warning in reply.warnings)
    with pytest.raises(OperatorError, match="line 1, column 9"):
        operator.trigger("deploy", "role == ")
    statuses = [(entry["status"], entry["reason"][:20]) for entry in operator.events()["triggers"]]
    assert statuses[0] == ("refused", "query, line 1, colum") and statuses[1][0] == "fired"


def publish_batch(master: Master, agent_id: str, *events: tuple[str, str, Status]) -> None:
    now = datetime.now(UTC)
    leaves = Counter({(module, title, None, status): 1 for module, title, status in events})
    batch = build_batch(leaves, Level.OBJECT, agent_id=agent_id, period_start=now, period_end=now, sent_at=now,
                        batch_id=f"batch-{now.timestamp()}".replace(".", "-"))
    assert master.bus is not None
    master.bus.jetstream_publish(subjects.agent_events(agent_id), encode(batch)).get(timeout=30)


def test_an_event_rule_fires_its_trigger_from_a_db_agents_openssl_change_only(setup: Any) -> None:
    master, agents, operator, watcher = setup
    apps = {agents["app1"], agents["app2"], agents["app9"]}
    # the same event from an agent that is not a db: no trigger
    publish_batch(master, agents["web1"], ("package", "openssl", Status.CHANGED))
    assert eventually(lambda: operator.events(agent=agents["web1"])["totals"]["count"] == 1, timeout=20)
    operator.trigger("fence", f"id == '{agents['db1']}'")  # the router has seen the hit once this one is through
    assert watcher.wait_for("fence", {agents["db1"]})
    assert watcher.reached("restart-app") == set()
    publish_batch(master, agents["db1"], ("package", "openssl-libs", Status.CHANGED), ("file", "x", Status.OK))
    assert watcher.wait_for("restart-app", apps)
    fired = [one for agent_id, triggers in watcher.triggers() for one in triggers if one.name == "restart-app"]
    assert {one.sender for one in fired} == {"rule:openssl-restarts-app"}
    assert {tuple(one.data.items()) for one in fired} == {(("reason", "openssl updated"),)}
    listed = [entry for entry in operator.events()["triggers"] if entry["name"] == "restart-app"]
    assert len(listed) == 1 and listed[0]["sender"] == "rule:openssl-restarts-app" and listed[0]["sender_key"] == ""


def test_the_trigger_rate_is_the_configured_one(master_env: MasterEnv) -> None:  # noqa: F811
    master = master_env.master(trigger_rate=1 / 60)  # one a minute: a burst of one
    operator = None
    try:
        seed_agents(master, {"app1": "app"})
        operator = OperatorClient.connect(master_env.urls, key_file=default_key_file(master_env.nats_state),
                                          timeout=10)
        assert operator.trigger("first", "role == 'app'").ok  # the default would let 20 through
        with pytest.raises(OperatorError, match="too many triggers from this key; slow down"):
            operator.trigger("second", "role == 'app'")
        assert master.security["trigger.rate-key"] == 1
    finally:
        if operator is not None:
            operator.close()
        master.stop()
