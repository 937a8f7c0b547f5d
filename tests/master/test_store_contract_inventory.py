"""The Store contract for the inventory (issue 13): queries over agents' metadata and facts,
and the record of what agents' policies asked. Same bodies for every backend (the `store`
fixture runs SQLite always, ArangoDB when PARTOUT_TEST_ARANGO_URL is set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from partout.inventory import Query, QueryError
from partout.master.store import DependencyRecord, Store
from partout.master.store.trigger_records import TriggerQuery, TriggerRecord

KEYS = [f"U{letter * 55}" for letter in "ABCDEFGH"]


def enrol(store: Store, index: int, hostname: str, facts: dict[str, object], environment: str | None = "prod") -> str:
    key = KEYS[index]
    store.upsert_pending(key, hostname, facts)
    if environment is None:
        return key
    agent_id = store.approve(key, environment).agent_id
    assert agent_id is not None
    return agent_id


@pytest.fixture
def fleet(store: Store) -> dict[str, str]:
    return {
        "web2": enrol(store, 0, "web2", {"custom": {"role": "web"}, "cpus": 4, "os": {"family": "debian"}}),
        "web1": enrol(store, 1, "web1", {"custom": {"role": "web"}, "cpus": 2, "os": {"family": "redhat"}}),
        "db1": enrol(store, 2, "db1", {"custom": {"role": "db"}, "cpus": 16, "os": {"family": "debian"}}),
        "web9": enrol(store, 3, "web9", {"custom": {"role": "web"}, "cpus": 8}, environment="staging"),
        "new1": enrol(store, 4, "new1", {"custom": {"role": "web"}}, environment=None),
    }


def hostnames(store: Store, text: str, **scope: str) -> list[str]:
    return [row["hostname"] for row in store.inventory(Query.parse(text), ["hostname"], **scope).rows]


def test_a_query_selects_agents_by_facts_sorted_by_hostname(store: Store, fleet: dict[str, str]) -> None:
    assert hostnames(store, 'role == "web"') == ["new1", "web1", "web2", "web9"]
    assert hostnames(store, 'role == "web" and cpus >= 4') == ["web2", "web9"]
    assert hostnames(store, 'os.family in ["redhat"] or hostname =~ "^db"') == ["db1", "web1"]
    assert hostnames(store, "not exists(os.family)") == ["new1", "web9"]


def test_a_query_reads_metadata_and_the_scope_limits_environment_and_status(
        store: Store, fleet: dict[str, str]) -> None:
    assert hostnames(store, 'status == "pending"') == ["new1"]
    assert hostnames(store, 'role == "web"', environment="prod") == ["web1", "web2"]
    assert hostnames(store, 'role == "web"', environment="staging", status="approved") == ["web9"]
    assert hostnames(store, 'env == "staging"') == ["web9"]
    pending_id = store.inventory(Query.parse('hostname == "new1"'), ["id"]).rows
    assert pending_id == ({"id": KEYS[4]},)  # a pending agent is known by its public key


def test_the_answer_has_the_chosen_fields_or_whole_documents(store: Store, fleet: dict[str, str]) -> None:
    answer = store.inventory(Query.parse('hostname == "web1"'), ["hostname", "os.family", "custom.rack"])
    assert answer.rows == ({"hostname": "web1", "os.family": "redhat", "custom.rack": None},)
    whole = store.inventory(Query.parse('hostname == "db1"')).rows[0]
    assert whole["id"] == fleet["db1"] and whole["environment"] == "prod" and whole["status"] == "approved"
    assert whole["facts"]["cpus"] == 16 and isinstance(whole["last_seen"], str)


def test_a_fact_no_agent_has_answers_nothing_with_a_warning(store: Store, fleet: dict[str, str]) -> None:
    answer = store.inventory(Query.parse('rack == "r1"'), ["hostname"])
    assert answer.rows == ()
    assert len(answer.warnings) == 1 and "rack" in answer.warnings[0]
    assert store.inventory(Query.parse('role == "web"'), ["hostname"]).warnings == ()


def test_a_bad_field_name_is_a_query_error(store: Store, fleet: dict[str, str]) -> None:
    with pytest.raises(QueryError):
        store.inventory(Query.parse('role == "web"'), ["os..family"])


def test_facts_changes_show_in_the_next_answer(store: Store, fleet: dict[str, str]) -> None:
    store.put_facts(fleet["db1"], {"custom": {"role": "web"}})
    assert hostnames(store, 'role == "web"', environment="prod") == ["db1", "web1", "web2"]
    store.revoke(fleet["web1"])
    assert hostnames(store, 'role == "web"', environment="prod", status="approved") == ["db1", "web2"]


def dependency(agent_id: str, digest: str, *, query: str = 'role == "web"', compile_id: str = "c1",
               at: datetime | None = None) -> DependencyRecord:
    return DependencyRecord(agent_id=agent_id, query=query, fields=("hostname",), environment="prod",
                            digest=digest, compile_id=compile_id, asked_at=at or datetime.now(UTC))


def test_a_dependency_is_recorded_once_and_changed_at_moves_only_with_its_digest(store: Store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = store.record_dependency(dependency("lb1", "d1", at=start))
    assert first.changed_at == start and first.asked_at == start
    again = store.record_dependency(dependency("lb1", "d1", at=start + timedelta(minutes=1)))
    assert again.changed_at == start and again.asked_at == start + timedelta(minutes=1)
    changed = store.record_dependency(dependency("lb1", "d2", at=start + timedelta(minutes=2)))
    assert changed.changed_at == start + timedelta(minutes=2)
    assert [(record.agent_id, record.digest) for record in store.dependencies()] == [("lb1", "d2")]


def test_a_new_compile_forgets_the_queries_the_old_one_asked(store: Store) -> None:
    store.record_dependency(dependency("lb1", "d1", query='role == "web"', compile_id="c1"))
    store.record_dependency(dependency("lb1", "d1", query='role == "db"', compile_id="c1"))
    store.record_dependency(dependency("lb2", "d1", query='role == "db"', compile_id="x"))
    assert [record.query for record in store.dependencies("lb1")] == ['role == "db"', 'role == "web"']
    store.record_dependency(dependency("lb1", "d3", query='role == "web"', compile_id="c2"))
    assert [record.query for record in store.dependencies("lb1")] == ['role == "web"']
    assert [record.agent_id for record in store.dependencies()] == ["lb1", "lb2"]


def test_forgetting_an_agents_dependencies_leaves_the_others(store: Store) -> None:
    store.record_dependency(dependency("lb1", "d1", query='role == "web"'))
    store.record_dependency(dependency("lb1", "d1", query='role == "db"'))
    store.record_dependency(dependency("lb2", "d1"))
    assert store.forget_dependencies("lb1") == 2
    assert store.forget_dependencies("lb1") == 0
    assert [record.agent_id for record in store.dependencies()] == ["lb2"]


def trigger_record(trigger_id: str, name: str, at: datetime, reached: tuple[str, ...] = (),
                   status: str = "fired") -> TriggerRecord:
    return TriggerRecord(trigger_id=trigger_id, name=name, sender="operator UABCDEFG", sender_key="U" + "K" * 55,
                         where='role == "app"', data={"reason": "openssl", "n": 1}, received_at=at, reached=reached,
                         status=status, reason="" if status == "fired" else "not a trigger key")  # type: ignore[arg-type]


def test_triggers_are_kept_once_and_listed_newest_first_by_name_agent_and_time(store: Store) -> None:
    now = datetime.now(UTC)
    first = trigger_record("t1", "restart-app", now - timedelta(hours=2), ("a1", "a2"))
    assert store.record_trigger(first) is True
    assert store.record_trigger(first.model_copy(update={"name": "other"})) is False  # idempotent by id
    store.record_trigger(trigger_record("t2", "deploy", now - timedelta(minutes=5), ("a2",)))
    store.record_trigger(trigger_record("t3", "restart-app", now, status="refused"))
    assert [found.trigger_id for found in store.triggers(TriggerQuery())] == ["t3", "t2", "t1"]
    [kept] = store.triggers(TriggerQuery(name="deploy"))
    assert kept.reached == ("a2",) and kept.data == {"reason": "openssl", "n": 1} and kept.sender_key.startswith("UK")
    assert kept.received_at == now - timedelta(minutes=5)
    assert [found.trigger_id for found in store.triggers(TriggerQuery(agent_id="a2"))] == ["t2", "t1"]
    assert [found.trigger_id for found in store.triggers(TriggerQuery(agent_id="a1"))] == ["t1"]
    assert [found.trigger_id for found in store.triggers(TriggerQuery(since=now - timedelta(hours=1)))] == ["t3", "t2"]
    assert [found.trigger_id for found in store.triggers(TriggerQuery(limit=1))] == ["t3"]
    assert store.triggers(TriggerQuery(name="restart-app", agent_id="a2"))[0].status == "fired"
    assert store.triggers(TriggerQuery(name="restart-app"))[0].reason == "not a trigger key"
