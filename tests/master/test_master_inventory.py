"""The master's answers to `p2.nodes` and its check of which agents' answers changed, on a
real SQLite store (the NATS side is in tests/security/test_inventory_requests.py and
tests/fleet/test_fleet_inventory.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from partout.inventory import Query
from partout.master.dependencies import changed_agents
from partout.master.inventory import answer_agent, answer_digest
from partout.master.store import Store, open_store
from partout.wire.inventory import InventoryRequest


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / "state").mkdir(mode=0o700)
    opened = open_store(tmp_path / "state" / "store.sqlite")
    yield opened  # type: ignore[misc]
    opened.close()


def enrol(store: Store, letter: str, hostname: str, role: str, environment: str | None = "prod") -> str:
    key = f"U{letter * 55}"
    store.upsert_pending(key, hostname, {"custom": {"role": role}})
    if environment is None:
        return key
    agent_id = store.approve(key, environment).agent_id
    assert agent_id is not None
    return agent_id


def ask(store: Store, agent_id: str, query: str = "role == 'web'", scope: str = "environment",
        allowed: str = "environment", compile_id: str = "c1") -> list[str] | str:
    request = InventoryRequest(query=query, fields=("hostname",), scope=scope, compile_id=compile_id)  # type: ignore[arg-type]
    reply = answer_agent(store, agent_id, request, Query.parse(query), allowed)  # type: ignore[arg-type]
    return [row["hostname"] for row in reply.rows] if reply.ok else reply.error


def test_an_agent_sees_the_approved_nodes_of_its_own_environment(store: Store) -> None:
    lb = enrol(store, "A", "lb1", "lb")
    enrol(store, "B", "web2", "web")
    web1 = enrol(store, "C", "web1", "web")
    enrol(store, "D", "web9", "web", environment="staging")
    enrol(store, "E", "web0", "web", environment=None)  # pending
    store.revoke(web1)
    assert ask(store, lb) == ["web2"]
    assert "refused" in str(ask(store, lb, scope="all"))
    assert ask(store, lb, scope="all", allowed="all") == ["web2", "web9"]


def test_a_revoked_or_unknown_agent_gets_no_answer(store: Store) -> None:
    lb = enrol(store, "A", "lb1", "lb")
    store.revoke(lb)
    assert ask(store, lb) == "this agent is not approved"
    assert ask(store, "no-such-agent") == "this agent is not approved"
    assert store.dependencies() == []


def test_the_question_and_the_digest_of_its_answer_are_recorded(store: Store) -> None:
    lb = enrol(store, "A", "lb1", "lb")
    enrol(store, "B", "web2", "web")
    ask(store, lb, query="role == 'web'")
    [record] = store.dependencies(lb)
    assert record.query == 'facts.custom.role == "web"' and record.fields == ("hostname",)
    assert record.environment == "prod" and record.digest == answer_digest([{"hostname": "web2"}])


def test_exactly_the_agents_whose_answer_changed_are_found(store: Store) -> None:
    lb1, lb2 = enrol(store, "A", "lb1", "lb"), enrol(store, "B", "lb2", "lb")
    stage_lb = enrol(store, "C", "lb9", "lb", environment="staging")
    db_watcher = enrol(store, "D", "app1", "app")
    web = enrol(store, "E", "web1", "web")
    for agent_id in (lb1, lb2, stage_lb):
        ask(store, agent_id)
    ask(store, db_watcher, query="role == 'db'")
    assert changed_agents(store) == {}
    store.put_facts(web, {"custom": {"role": "db"}})  # web1 becomes a db node
    changed = changed_agents(store)
    assert sorted(changed) == sorted([lb1, lb2, db_watcher])
    assert changed[lb1] == ['facts.custom.role == "web"']
    ask(store, lb1, compile_id="c2")  # lb1 recompiled and asked again: up to date
    assert sorted(changed_agents(store)) == sorted([lb2, db_watcher])
    store.revoke(lb2)  # a revoked agent is told nothing
    assert sorted(changed_agents(store)) == [db_watcher]
