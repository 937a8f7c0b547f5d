"""Rollup buckets: exact counts across hour, day, week and year boundaries, UTC only,
time injected (never slept)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from partout.events.rollup import (
    CountRow, Granularity, RetentionPolicy, apply, buckets, cutoffs, floor, roll_up, tier,
)

POLICY = RetentionPolicy()
WEB1 = ("web1", "file", "changed")
DB1 = ("db1", "package", "failed")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("time", "granularity", "start"), [
    ("2024-03-03 23:59:59.999999", Granularity.HOUR, "2024-03-03 23:00"),
    ("2024-03-03 23:59:59.999999", Granularity.DAY, "2024-03-03 00:00"),
    ("2024-03-03 23:59:59.999999", Granularity.WEEK, "2024-02-26 00:00"),  # a Sunday: the week of Monday 26th
    ("2024-03-04 00:00", Granularity.WEEK, "2024-03-04 00:00"),  # Monday midnight starts its own week
    ("2024-12-31 12:00", Granularity.WEEK, "2024-12-30 00:00"),
    ("2021-01-01 08:00", Granularity.WEEK, "2020-12-28 00:00"),  # a week across the new year
    ("2024-02-29 13:45", Granularity.DAY, "2024-02-29 00:00"),
    ("2024-03-01 10:11:12", Granularity.RAW, "2024-03-01 10:11:12"),
])
def test_a_bucket_starts_at_the_utc_hour_day_or_monday(time: str, granularity: Granularity, start: str) -> None:
    assert floor(at(time), granularity) == at(start)


def test_times_in_other_zones_are_bucketed_in_utc_and_naive_ones_refused() -> None:
    tokyo = datetime(2024, 3, 4, 8, 30, tzinfo=timezone(timedelta(hours=9)))  # Sunday 23:30 UTC
    assert floor(tokyo, Granularity.DAY) == at("2024-03-03 00:00")
    assert floor(tokyo, Granularity.WEEK) == at("2024-02-26 00:00")
    with pytest.raises(ValueError, match="no time zone"):
        floor(datetime(2024, 3, 4), Granularity.HOUR)


def test_a_day_has_24_hourly_buckets_even_when_local_clocks_change() -> None:
    # 31 March 2024: Europe's clocks skip an hour; UTC does not
    start = at("2024-03-31 00:00")
    points = [(start + timedelta(minutes=minute), WEB1, 1) for minute in range(0, 24 * 60, 15)]
    hours = buckets(points, Granularity.HOUR)
    assert len(hours) == 24 and set(hours.values()) == {4}
    assert buckets(points, Granularity.DAY) == {(start, WEB1): 96}


def test_the_cutoffs_align_to_the_coarser_bucket() -> None:
    cut = cutoffs(at("2024-03-14 15:42"), POLICY)  # a Thursday
    assert cut.raw_before == at("2024-03-13 15:00")
    assert cut.hourly_before == at("2024-03-07 00:00")
    assert cut.daily_before == at("2024-02-12 00:00")  # the Monday of 12 Feb (14 March - 31 days)
    assert cut.weekly_before is None


@pytest.mark.parametrize(("time", "expected"), [
    ("2024-03-13 15:00", Granularity.RAW), ("2024-03-13 14:59:59.999999", Granularity.HOUR),
    ("2024-03-07 00:00", Granularity.HOUR), ("2024-03-06 23:59:59", Granularity.DAY),
    ("2024-02-12 00:00", Granularity.DAY), ("2024-02-11 23:59:59", Granularity.WEEK),
    ("2019-01-01 00:00", Granularity.WEEK),
])
def test_each_count_belongs_to_one_tier_by_age(time: str, expected: Granularity) -> None:
    assert tier(at(time), at("2024-03-14 15:42"), POLICY) == expected


def test_a_roll_up_at_a_boundary_moves_whole_buckets_only() -> None:
    rows = [CountRow(Granularity.RAW, at("2024-03-13 14:59:59.999999"), WEB1, 2),
            CountRow(Granularity.RAW, at("2024-03-13 14:00"), WEB1, 3),
            CountRow(Granularity.RAW, at("2024-03-13 14:30"), DB1, 1),
            CountRow(Granularity.RAW, at("2024-03-13 15:00"), WEB1, 7)]
    plan = roll_up(rows, at("2024-03-14 15:00"), POLICY)
    assert plan.prune == rows[:3]
    assert plan.upsert == [CountRow(Granularity.HOUR, at("2024-03-13 14:00"), DB1, 1),
                           CountRow(Granularity.HOUR, at("2024-03-13 14:00"), WEB1, 5)]
    assert plan.expired == []
    after = apply(rows, plan)
    assert sorted((r.granularity, r.start, r.count) for r in after) == [
        (Granularity.HOUR, at("2024-03-13 14:00"), 1), (Granularity.HOUR, at("2024-03-13 14:00"), 5),
        (Granularity.RAW, at("2024-03-13 15:00"), 7)]
    assert roll_up(after, at("2024-03-14 15:00"), POLICY).empty


def test_hours_become_days_and_days_become_weeks_adding_to_existing_buckets() -> None:
    rows = [CountRow(Granularity.HOUR, at("2024-03-06 23:00"), WEB1, 4),
            CountRow(Granularity.HOUR, at("2024-03-06 00:00"), WEB1, 6),
            CountRow(Granularity.DAY, at("2024-03-06 00:00"), WEB1, 100),  # made by an earlier roll-up
            CountRow(Granularity.DAY, at("2024-02-11 00:00"), WEB1, 9),  # a Sunday
            CountRow(Granularity.DAY, at("2024-02-05 00:00"), WEB1, 1),  # the Monday of that week
            CountRow(Granularity.RAW, at("2024-02-01 08:00"), DB1, 2)]  # arrived late, from a spool
    plan = roll_up(rows, at("2024-03-14 15:42"), POLICY)
    after = {(r.granularity, r.start, r.key): r.count for r in apply(rows, plan)}
    assert after == {(Granularity.DAY, at("2024-03-06 00:00"), WEB1): 110,
                     (Granularity.WEEK, at("2024-02-05 00:00"), WEB1): 10,
                     (Granularity.WEEK, at("2024-01-29 00:00"), DB1): 2}


def test_weekly_buckets_expire_when_a_weekly_retention_is_set() -> None:
    policy = RetentionPolicy(weekly=timedelta(days=365))
    old = CountRow(Granularity.WEEK, at("2023-03-06 00:00"), WEB1, 5)
    kept = CountRow(Granularity.WEEK, at("2023-03-20 00:00"), WEB1, 8)
    plan = roll_up([old, kept], at("2024-03-14 15:42"), policy)
    assert plan.prune == [old] and plan.expired == [old] and plan.upsert == []
    assert roll_up([old, kept], at("2024-03-14 15:42"), POLICY).empty  # forever by default


def test_a_longer_retention_set_later_never_brings_detail_back() -> None:
    row = CountRow(Granularity.DAY, at("2024-03-10 00:00"), WEB1, 3)
    assert roll_up([row], at("2024-03-14 15:42"), RetentionPolicy(raw=timedelta(days=30),
                                                                     hourly=timedelta(days=60),
                                                                     daily=timedelta(days=90))).empty


def test_rolling_up_hour_by_hour_for_three_months_keeps_every_count_in_the_right_bucket() -> None:
    chance = random.Random(7)
    start = at("2023-12-20 00:00")
    rows: list[CountRow] = []
    truth: dict[tuple[datetime, tuple[str, ...]], int] = {}
    total = 0
    for hour in range(24 * 95):
        now = start + timedelta(hours=hour)
        for _ in range(chance.randrange(4)):
            key = chance.choice([WEB1, DB1])
            time = now + timedelta(seconds=chance.randrange(3600))
            count = chance.randrange(1, 5)
            rows.append(CountRow(Granularity.RAW, time, key, count))
            truth[(time, key)] = truth.get((time, key), 0) + count
            total += count
        rows = apply(rows, roll_up(rows, now + timedelta(hours=1), POLICY))
    end = start + timedelta(hours=24 * 95)
    assert sum(row.count for row in rows) == total
    cut = cutoffs(end, POLICY)
    for row in rows:
        expected = tier(row.start, end, POLICY)
        assert row.granularity == expected, row
        width = {Granularity.RAW: timedelta(microseconds=1), Granularity.HOUR: timedelta(hours=1),
                 Granularity.DAY: timedelta(days=1), Granularity.WEEK: timedelta(weeks=1)}
        bucket_end = {granularity: row.start + span for granularity, span in width.items()}
        exact = sum(count for (time, key), count in truth.items()
                    if key == row.key and row.start <= time < bucket_end[row.granularity])
        assert row.count == exact, row
    assert {row.granularity for row in rows} == set(Granularity)
    assert min(row.start for row in rows if row.granularity == Granularity.RAW) >= cut.raw_before


def test_a_retention_that_shrinks_with_age_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not shrink"):
        RetentionPolicy(raw=timedelta(days=10), hourly=timedelta(days=7))
    with pytest.raises(ValidationError):
        RetentionPolicy(unknown=1)  # type: ignore[call-arg]
