"""The Store contract for events (issue 12): the same bodies run on every backend (the
`store` fixture of conftest.py: SQLite always, ArangoDB with PARTOUT_TEST_ARANGO_URL).

Time is injected: a batch's receive time is the master's now, and roll-ups happen as the
store writes, whenever a retention cut moved (hour, day and week boundaries here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from test_store_contract import a_report, approved

from partout.events.counts import Leaves, build_batch
from partout.events.rollup import Granularity, RetentionPolicy
from partout.events.wire import EventBatch, Level
from partout.master.store import Store
from partout.master.store.event_records import EventQuery
from partout.report import Status

StoreFactory = Callable[[], Store]
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)  # an ISO week starts on it
POLICY = RetentionPolicy()


def leaves(*items: tuple[str, str, str, Status, int]) -> Leaves:
    counts: Leaves = Counter()
    for module, title, message, status, count in items:
        counts[(module, title, message, status)] += count
    return counts


def a_batch(batch_id: str, agent_id: str = "web1", *, level: Level = Level.MESSAGE, at: datetime = MONDAY,
            counts: Leaves | None = None) -> EventBatch:
    counts = counts if counts is not None else leaves(("file", "/etc/motd", "content changed", Status.CHANGED, 3),
                                                      ("file", "/etc/motd", "", Status.OK, 1),
                                                      ("service", "nginx", "restarted", Status.CHANGED, 2))
    return build_batch(counts, level, batch_id=batch_id, agent_id=agent_id, period_start=at - timedelta(seconds=10),
                       period_end=at, sent_at=at)


def changed(count: int, module: str = "file") -> Leaves:
    return leaves((module, "/etc/motd", "content changed", Status.CHANGED, count))


def total(store: Store, **query: object) -> int:
    return sum(count.count for count in store.event_counts(EventQuery.model_validate(query)))


def tiers(store: Store) -> dict[tuple[Granularity, datetime], int]:
    found: dict[tuple[Granularity, datetime], int] = {}
    for count in store.event_counts(EventQuery()):
        key = (count.granularity, count.start)
        found[key] = found.get(key, 0) + count.count
    return found


def store_at(store: Store, batch: EventBatch, received_at: datetime, policy: RetentionPolicy = POLICY) -> bool:
    return store.add_event_batch(batch, received_at=received_at, retention=policy)


def test_a_stored_batch_is_kept_as_its_detailed_events(store: Store) -> None:
    assert store_at(store, a_batch("batch-0001"), MONDAY) is True
    found = store.events(EventQuery(agent_id="web1"))
    assert sorted((event.module, event.title, event.message, event.status, event.count) for event in found) == [
        ("file", "/etc/motd", "", Status.OK, 1),
        ("file", "/etc/motd", "content changed", Status.CHANGED, 3),
        ("service", "nginx", "restarted", Status.CHANGED, 2),
    ]
    event = found[0]
    assert event.batch_id == "batch-0001" and event.level == Level.MESSAGE
    assert event.received_at == MONDAY and event.agent_time == MONDAY
    assert event.period_start == MONDAY - timedelta(seconds=10)


def test_a_redelivered_batch_is_stored_once(store: Store) -> None:
    batch = a_batch("batch-0001")
    assert store_at(store, batch, MONDAY) is True
    assert store_at(store, batch, MONDAY + timedelta(seconds=5)) is False
    assert total(store) == 6
    assert len(store.events(EventQuery())) == 3


def test_a_coarse_batch_is_stored_under_the_any_module(store: Store) -> None:
    store_at(store, a_batch("batch-agent", level=Level.AGENT), MONDAY)
    found = store.events(EventQuery())
    assert sorted((event.module, event.status, event.count, event.title) for event in found) == [
        ("_all", Status.CHANGED, 5, None), ("_all", Status.OK, 1, None)]


def test_events_filter_by_agent_module_status_and_time_newest_first(store: Store) -> None:
    for minute, agent in enumerate(("web1", "db1", "web1")):
        store_at(store, a_batch(f"batch-{minute:04d}", agent), MONDAY + timedelta(minutes=minute))
    assert {event.agent_id for event in store.events(EventQuery(agent_id="db1"))} == {"db1"}
    assert {event.module for event in store.events(EventQuery(module="service"))} == {"service"}
    assert {event.status for event in store.events(EventQuery(status=Status.OK))} == {Status.OK}
    recent = store.events(EventQuery(since=MONDAY + timedelta(minutes=1)))
    assert {event.batch_id for event in recent} == {"batch-0001", "batch-0002"}
    early = store.events(EventQuery(until=MONDAY + timedelta(minutes=1)))
    assert {event.batch_id for event in early} == {"batch-0000"}
    newest = store.events(EventQuery(limit=2))
    assert len(newest) == 2 and {event.batch_id for event in newest} == {"batch-0002"}
    received = [event.received_at for event in store.events(EventQuery())]
    assert received == sorted(received, reverse=True)
    assert total(store, agent_id="web1", status="changed") == 10


def test_rollups_move_counts_across_hour_day_and_week_boundaries(store: Store) -> None:
    policy = RetentionPolicy(weekly=timedelta(days=120))
    store_at(store, a_batch("batch-1015", counts=changed(2)), MONDAY + timedelta(hours=10, minutes=15), policy)
    store_at(store, a_batch("batch-1045", counts=changed(3)), MONDAY + timedelta(hours=10, minutes=45), policy)
    store_at(store, a_batch("batch-1105", counts=changed(4)), MONDAY + timedelta(hours=11, minutes=5), policy)
    raw = Granularity.RAW
    # a day later, to the minute: the raw cut is 10:00 on Monday, nothing moves yet
    store.roll_up_events(MONDAY + timedelta(days=1, hours=10, minutes=30), policy)
    assert {key[0] for key in tiers(store)} == {raw} and total(store) == 9
    # past 11:00 the next day: Monday's 10:00 hour is whole and past a day old, so it is rolled up
    summary = store.roll_up_events(MONDAY + timedelta(days=1, hours=11, minutes=30), policy)
    assert summary.moved == 5
    assert tiers(store) == {(Granularity.HOUR, MONDAY + timedelta(hours=10)): 5,
                            (raw, MONDAY + timedelta(hours=11, minutes=5)): 4}
    assert [event.batch_id for event in store.events(EventQuery())] == ["batch-1105"]
    # a write after the next hour boundary rolls up by itself (no cron): 11:00 goes hourly too
    store_at(store, a_batch("batch-next", counts=changed(1)), MONDAY + timedelta(days=1, hours=12, minutes=1), policy)
    assert tiers(store) == {(Granularity.HOUR, MONDAY + timedelta(hours=10)): 5,
                            (Granularity.HOUR, MONDAY + timedelta(hours=11)): 4,
                            (raw, MONDAY + timedelta(days=1, hours=12, minutes=1)): 1}
    # a week after Tuesday began, Monday's hours become one daily bucket (Tuesday's raw count too)
    store.roll_up_events(MONDAY + timedelta(days=8, hours=0, minutes=1), policy)
    assert tiers(store) == {(Granularity.DAY, MONDAY): 9, (Granularity.HOUR, MONDAY + timedelta(days=1, hours=12)): 1}
    # 31 days after the next Monday began, the whole week is one weekly bucket
    store.roll_up_events(MONDAY + timedelta(days=7 + 31, minutes=1), policy)
    assert tiers(store) == {(Granularity.WEEK, MONDAY): 10}
    assert total(store, agent_id="web1", module="file", status="changed") == 10
    # and past the weekly retention, the counts expire
    summary = store.roll_up_events(MONDAY + timedelta(days=7 + 120, minutes=1), policy)
    assert summary.expired == 10 and tiers(store) == {}


def test_rolled_up_counts_are_queried_by_time_and_key(store: Store) -> None:
    store_at(store, a_batch("batch-web1", "web1", counts=changed(2)), MONDAY + timedelta(hours=1))
    store_at(store, a_batch("batch-db1", "db1", counts=changed(5, "package")), MONDAY + timedelta(hours=2))
    store.roll_up_events(MONDAY + timedelta(days=3), POLICY)
    assert total(store) == 7
    assert total(store, agent_id="db1") == 5
    assert total(store, module="file") == 2
    assert total(store, status="ok") == 0
    assert total(store, since=MONDAY + timedelta(hours=2, minutes=30)) == 5  # the 02:00 bucket overlaps
    assert total(store, until=MONDAY + timedelta(hours=2)) == 2


def test_rolling_up_twice_at_the_same_time_changes_nothing(store: Store) -> None:
    store_at(store, a_batch("batch-0001", counts=changed(2)), MONDAY)
    store_at(store, a_batch("batch-0002", counts=changed(3)), MONDAY + timedelta(minutes=30))
    later = MONDAY + timedelta(days=2)
    store.roll_up_events(later, POLICY)
    again = store.roll_up_events(later, POLICY)
    assert (again.moved, again.expired) == (0, 0)
    assert tiers(store) == {(Granularity.HOUR, MONDAY): 5}


def test_a_redelivered_batch_is_still_stored_once_after_a_rollup(store: Store) -> None:
    batch = a_batch("batch-0001", counts=changed(2))
    store_at(store, batch, MONDAY)
    store.roll_up_events(MONDAY + timedelta(days=2), POLICY)
    assert store_at(store, batch, MONDAY + timedelta(days=2, minutes=1)) is False
    assert total(store) == 2


def test_old_reports_are_pruned_by_the_retention_but_each_agent_keeps_its_newest(store: Store) -> None:
    agent_id = approved(store)
    start = datetime.now(UTC)
    for index in range(3):
        store.add_report(agent_id, a_report(start + timedelta(minutes=index)), report_id=f"r{index}")
    summary = store.roll_up_events(datetime.now(UTC) + POLICY.daily + timedelta(hours=1), POLICY)
    assert summary.reports_pruned == 2
    assert [record.report_id for record in store.reports(agent_id)] == ["r2"]


def test_reports_younger_than_the_retention_are_kept(store: Store) -> None:
    agent_id = approved(store)
    store.add_report(agent_id, a_report(), report_id="r1")
    store.add_report(agent_id, a_report(), report_id="r2")
    assert store.roll_up_events(datetime.now(UTC) + timedelta(days=1), POLICY).reports_pruned == 0
    assert len(store.reports(agent_id)) == 2


def test_events_survive_closing_and_reopening(store_factory: StoreFactory) -> None:
    first = store_factory()
    store_at(first, a_batch("batch-0001"), MONDAY)
    first.close()
    second = store_factory()
    assert total(second) == 6
    assert store_at(second, a_batch("batch-0001"), MONDAY) is False


@pytest.mark.parametrize("level", list(Level))
def test_every_level_keeps_every_count(store: Store, level: Level) -> None:
    store_at(store, a_batch(f"batch-level-{int(level)}", level=level), MONDAY)
    assert total(store) == 6
