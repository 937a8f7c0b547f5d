"""The Store contract, written against the interface only: every backend passes it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from partout.master.store import (
    AgentNotFound,
    AgentStatus,
    EnrolmentLogEntry,
    PolicyErrorRecord,
    PolicyVersion,
    Store,
    StoreError,
    resolve_agent,
)
from partout.master.store.integrations import (
    IntegrationError,
    IntegrationExists,
    IntegrationNotFound,
    IntegrationRole,
)
from partout.report import Report, ResourceResult, Status

StoreFactory = Callable[[], Store]

KEY_A = "UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY_B = "UBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def a_report(started_at: datetime | None = None, statuses: tuple[Status, ...] = (Status.OK,)) -> Report:
    return Report(
        policy="site.p2",
        hostname="web1",
        started_at=started_at or datetime.now(UTC),
        duration=0.5,
        results=[ResourceResult(id=f"file:/etc/{index}", status=status) for index, status in enumerate(statuses)],
    )


def approved(store: Store, key: str = KEY_A, environment: str = "production") -> str:
    store.upsert_pending(key, "web1", {"os": {"family": "debian"}})
    agent_id = store.approve(key, environment).agent_id
    assert agent_id is not None
    return agent_id


def test_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_a_new_key_is_recorded_pending_without_an_agent_id(store: Store) -> None:
    agent = store.upsert_pending(KEY_A, "web1", {"kernel": "Linux"})
    assert agent.status is AgentStatus.PENDING
    assert agent.agent_id is None
    assert agent.key == KEY_A
    assert agent.facts == {"kernel": "Linux"}
    assert agent.facts_hash


def test_enrolling_again_refreshes_hostname_and_facts_but_keeps_one_record(store: Store) -> None:
    store.upsert_pending(KEY_A, "web1", {"kernel": "Linux"})
    agent = store.upsert_pending(KEY_A, "web1.example.com", {"kernel": "Linux", "cpus": 2})
    assert agent.hostname == "web1.example.com"
    assert agent.facts["cpus"] == 2
    assert len(store.agents()) == 1


def test_approval_assigns_a_uuid_and_an_environment(store: Store) -> None:
    store.upsert_pending(KEY_A, "web1", {})
    agent = store.approve(KEY_A, "production")
    assert agent.status is AgentStatus.APPROVED
    assert agent.environment == "production"
    assert agent.approved_at is not None
    assert str(uuid.UUID(str(agent.agent_id))) == agent.agent_id


def test_approving_again_moves_the_agent_but_keeps_its_id(store: Store) -> None:
    agent_id = approved(store)
    moved = store.approve(agent_id, "staging")
    assert moved.agent_id == agent_id
    assert moved.environment == "staging"


def test_an_approved_agent_that_enrols_again_stays_approved(store: Store) -> None:
    agent_id = approved(store)
    again = store.upsert_pending(KEY_A, "web1", {})
    assert again.status is AgentStatus.APPROVED
    assert again.agent_id == agent_id


def test_agents_are_found_by_id_or_public_key(store: Store) -> None:
    agent_id = approved(store)
    by_id = store.get_agent(agent_id)
    by_key = store.get_agent(KEY_A)
    assert by_id is not None and by_key is not None
    assert by_id.public_key == KEY_A and by_key.agent_id == agent_id
    assert store.agent_by_public_key(KEY_A) == by_key
    assert store.get_agent("nobody") is None
    assert store.agent_by_public_key(KEY_B) is None


def test_agents_filter_by_status_and_environment(store: Store) -> None:
    approved(store, KEY_A, "production")
    store.upsert_pending(KEY_B, "db1", {})
    assert [agent.public_key for agent in store.agents()] == [KEY_A, KEY_B]
    assert [agent.public_key for agent in store.agents(status="pending")] == [KEY_B]
    assert [agent.public_key for agent in store.agents(status=AgentStatus.APPROVED)] == [KEY_A]
    assert [agent.public_key for agent in store.agents(environment="production")] == [KEY_A]
    assert store.agents(status="approved", environment="staging") == []


def test_revoked_agent_stays_revoked_when_it_enrols_again(store: Store) -> None:
    agent_id = approved(store)
    revoked = store.revoke(agent_id)
    assert revoked.status is AgentStatus.REVOKED
    assert revoked.revoked_at is not None
    assert store.upsert_pending(KEY_A, "web1", {}).status is AgentStatus.REVOKED
    assert store.agents(status="approved") == []


def test_a_revoked_agent_cannot_be_approved_again(store: Store) -> None:
    agent_id = approved(store)
    store.revoke(agent_id)
    with pytest.raises(StoreError, match="revoked"):
        store.approve(agent_id, "production")


def test_a_pending_agent_can_be_revoked_by_its_key(store: Store) -> None:
    store.upsert_pending(KEY_B, "db1", {})
    assert store.revoke(KEY_B).status is AgentStatus.REVOKED


def test_operations_on_an_unknown_agent_raise_agent_not_found(store: Store) -> None:
    for operation in (
        lambda: store.approve("nobody", "production"),
        lambda: store.revoke("nobody"),
        lambda: store.touch("nobody"),
        lambda: store.put_facts("nobody", {}),
    ):
        with pytest.raises(AgentNotFound, match="nobody"):
            operation()


def test_touch_sets_last_seen(store: Store) -> None:
    agent_id = approved(store)
    seen = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.touch(agent_id, seen)
    agent = store.get_agent(agent_id)
    assert agent is not None and agent.last_seen == seen


def test_put_facts_says_whether_they_changed(store: Store) -> None:
    agent_id = approved(store)
    assert store.put_facts(agent_id, {"cpus": 4, "os": {"family": "debian"}}) is True
    assert store.put_facts(agent_id, {"os": {"family": "debian"}, "cpus": 4}) is False
    agent = store.get_agent(agent_id)
    assert agent is not None and agent.facts == {"cpus": 4, "os": {"family": "debian"}}


def test_a_report_is_stored_with_its_counts_and_results(store: Store) -> None:
    agent_id = approved(store)
    report = a_report(statuses=(Status.OK, Status.CHANGED, Status.CHANGED, Status.FAILED))
    assert store.add_report(agent_id, report, report_id="r1", policy_digest="abc") is True
    record = store.get_report("r1")
    assert record is not None
    assert record.agent_id == agent_id and record.policy_digest == "abc"
    assert record.counts == {"ok": 1, "changed": 2, "failed": 1}
    assert record.report == report
    assert store.get_report("r2") is None


def test_a_redelivered_report_is_stored_once(store: Store) -> None:
    agent_id = approved(store)
    report = a_report()
    assert store.add_report(agent_id, report, report_id="r1") is True
    assert store.add_report(agent_id, report, report_id="r1") is False
    assert len(store.reports(agent_id)) == 1


def test_reports_come_newest_first_and_limited(store: Store) -> None:
    agent_id = approved(store)
    other_id = approved(store, KEY_B)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for index in (3, 1, 4, 0, 2):
        store.add_report(agent_id, a_report(start + timedelta(minutes=index)), report_id=f"r{index}")
    store.add_report(other_id, a_report(start), report_id="other")
    assert [record.report_id for record in store.reports(agent_id)] == ["r4", "r3", "r2", "r1", "r0"]
    assert [record.report_id for record in store.reports(agent_id, limit=2)] == ["r4", "r3"]
    assert [record.report_id for record in store.reports(other_id)] == ["other"]


def test_reports_from_agents_in_other_time_zones_sort_by_instant(store: Store) -> None:
    agent_id = approved(store)
    earlier = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))  # 07:00 UTC
    later = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    store.add_report(agent_id, a_report(later), report_id="later")
    store.add_report(agent_id, a_report(earlier), report_id="earlier")
    assert [record.report_id for record in store.reports(agent_id)] == ["later", "earlier"]


def test_pruning_keeps_the_newest_reports_of_each_agent(store: Store) -> None:
    agent_id = approved(store)
    other_id = approved(store, KEY_B)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for index in range(5):
        store.add_report(agent_id, a_report(start + timedelta(minutes=index)), report_id=f"a{index}")
    store.add_report(other_id, a_report(start), report_id="b0")
    assert store.prune_reports(keep_per_agent=2) == 3
    assert [record.report_id for record in store.reports(agent_id)] == ["a4", "a3"]
    assert [record.report_id for record in store.reports(other_id)] == ["b0"]


def test_reports_inserted_from_several_threads_are_all_kept(store: Store) -> None:
    agent_id = approved(store)
    errors: list[BaseException] = []

    def insert(thread: int) -> None:
        try:
            for index in range(25):
                # every report twice, as a redelivering stream would
                for _ in range(2):
                    store.add_report(agent_id, a_report(), report_id=f"t{thread}-{index}")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.reports(agent_id, limit=1000)) == 150


def test_enrolment_log_keeps_every_attempt_newest_first(store: Store) -> None:
    store.log_enrolment(EnrolmentLogEntry(public_key=KEY_A, hostname="web1", outcome="pending"))
    store.log_enrolment(EnrolmentLogEntry(public_key="garbage", outcome="refused", reason="malformed key"))
    entries = store.enrolments()
    assert [(entry.outcome, entry.reason) for entry in entries] == [("refused", "malformed key"), ("pending", "")]
    assert len(store.enrolments(limit=1)) == 1


def test_policy_errors_are_kept_per_environment(store: Store) -> None:
    store.record_policy_error(PolicyErrorRecord(environment="production", message="boom", file="site.p2", line=3))
    store.record_policy_error(PolicyErrorRecord(environment="staging", message="other"))
    errors = store.policy_errors("production")
    assert [(error.message, error.file, error.line) for error in errors] == [("boom", "site.p2", 3)]
    assert len(store.policy_errors()) == 2


def test_latest_policy_version_is_the_highest_sequence(store: Store) -> None:
    assert store.latest_policy_version("production") is None
    for sequence in (1, 3, 2):
        store.record_policy_version(PolicyVersion(environment="production", sequence=sequence, digest=f"d{sequence}"))
    store.record_policy_version(PolicyVersion(environment="production", sequence=3, digest="d3"))
    store.record_policy_version(PolicyVersion(environment="staging", sequence=9, digest="s9"))
    latest = store.latest_policy_version("production")
    assert latest is not None and (latest.sequence, latest.digest) == (3, "d3")


def test_everything_survives_closing_and_reopening(store_factory: StoreFactory) -> None:
    first = store_factory()
    agent_id = approved(first)
    first.add_report(agent_id, a_report(), report_id="r1")
    first.log_enrolment(EnrolmentLogEntry(public_key=KEY_A, outcome="approved"))
    first.record_policy_version(PolicyVersion(environment="production", sequence=7, digest="d"))
    first.close()
    second = store_factory()
    agent = second.get_agent(agent_id)
    assert agent is not None and agent.status is AgentStatus.APPROVED
    assert [record.report_id for record in second.reports(agent_id)] == ["r1"]
    assert second.add_report(agent_id, a_report(), report_id="r1") is False
    assert len(second.enrolments()) == 1
    latest = second.latest_policy_version("production")
    assert latest is not None and latest.sequence == 7


def test_resolve_agent_accepts_id_key_prefix_or_hostname(store: Store) -> None:
    agent_id = approved(store, KEY_A)
    store.upsert_pending(KEY_B, "db1", {})
    assert resolve_agent(store, agent_id).public_key == KEY_A
    assert resolve_agent(store, agent_id[:8]).public_key == KEY_A
    assert resolve_agent(store, "db1").public_key == KEY_B
    assert resolve_agent(store, KEY_B[:10]).public_key == KEY_B
    with pytest.raises(AgentNotFound):
        resolve_agent(store, "nobody")
    with pytest.raises(AgentNotFound):
        resolve_agent(store, "U")  # too short to be taken as a prefix


def test_resolve_agent_refuses_an_ambiguous_name(store: Store) -> None:
    store.upsert_pending(KEY_A, "web1", {})
    store.upsert_pending(KEY_B, "web1", {})
    with pytest.raises(StoreError, match="several agents"):
        resolve_agent(store, "web1")


# integrations (partout/master/store/integrations.py)

KEY_C = "UCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"


def test_an_integration_is_added_listed_and_found_by_its_key(store: Store) -> None:
    added = store.add_integration("grafana", IntegrationRole.READER, KEY_A)
    assert (added.name, added.role, added.public_key, added.removed_at) == ("grafana", "reader", KEY_A, None)
    store.add_integration("ci-deploy", IntegrationRole.TRIGGER, KEY_B)
    assert [(found.name, found.role) for found in store.integrations()] == [
        ("grafana", IntegrationRole.READER), ("ci-deploy", IntegrationRole.TRIGGER)]
    assert store.integration_by_public_key(KEY_B) == store.integrations()[1]
    assert store.integration_by_public_key(KEY_C) is None


def test_an_integration_name_is_taken_while_it_is_not_removed(store: Store) -> None:
    store.add_integration("grafana", IntegrationRole.READER, KEY_A)
    with pytest.raises(IntegrationExists, match="named 'grafana' exists already"):
        store.add_integration("grafana", IntegrationRole.TRIGGER, KEY_B)
    assert store.integration_by_public_key(KEY_B) is None
    assert len(store.integrations()) == 1


def test_an_integration_key_is_registered_once_even_after_removal(store: Store) -> None:
    store.add_integration("grafana", IntegrationRole.READER, KEY_A)
    with pytest.raises(IntegrationExists, match="registered already"):
        store.add_integration("other", IntegrationRole.READER, KEY_A)
    store.remove_integration("grafana")
    with pytest.raises(IntegrationExists, match="registered already"):
        store.add_integration("grafana", IntegrationRole.READER, KEY_A)


def test_a_removed_integration_stays_known_by_its_key_and_frees_its_name(store: Store) -> None:
    store.add_integration("grafana", IntegrationRole.READER, KEY_A)
    removed = store.remove_integration("grafana")
    assert removed.public_key == KEY_A and removed.removed_at is not None
    assert store.integrations() == []
    found = store.integration_by_public_key(KEY_A)
    assert found is not None and found.removed
    again = store.add_integration("grafana", IntegrationRole.TRIGGER, KEY_B)
    assert [found.public_key for found in store.integrations()] == [KEY_B]
    assert [found.public_key for found in store.integrations(removed=True)] == [KEY_A, KEY_B]
    assert again.role is IntegrationRole.TRIGGER


def test_removing_an_unknown_or_removed_integration_raises_not_found(store: Store) -> None:
    with pytest.raises(IntegrationNotFound, match="no integration named 'nobody'"):
        store.remove_integration("nobody")
    store.add_integration("grafana", IntegrationRole.READER, KEY_A)
    store.remove_integration("grafana")
    with pytest.raises(IntegrationNotFound):
        store.remove_integration("grafana")


@pytest.mark.parametrize("name", ["", "Grafana", "has space", "dot.ted", "-lead", "x" * 64, "wild*", "é"])
def test_an_invalid_integration_name_is_refused_naming_the_field(store: Store, name: str) -> None:
    with pytest.raises(IntegrationError, match="integration name .* is invalid"):
        store.add_integration(name, IntegrationRole.READER, KEY_A)
    assert store.integrations(removed=True) == []


def test_integrations_survive_closing_and_reopening(store_factory: StoreFactory) -> None:
    first = store_factory()
    first.add_integration("grafana", IntegrationRole.READER, KEY_A)
    first.add_integration("old", IntegrationRole.TRIGGER, KEY_B)
    first.remove_integration("old")
    first.close()
    second = store_factory()
    assert [found.name for found in second.integrations()] == ["grafana"]
    old = second.integration_by_public_key(KEY_B)
    assert old is not None and old.removed and old.role is IntegrationRole.TRIGGER
