"""Rollup buckets for stored event counts: raw, then hourly, daily and weekly as they age.

With the default `RetentionPolicy` (the original's storage plan): counts of the last day
stay raw, the last 7 days are kept by hour, the last 31 days by day, and older ones by
week (forever, unless `weekly` is set). The store writer calls `roll_up` as it goes, with
the rows it holds and the time; the plan says which rows to delete, which bucket counts to
add (upsert: count = count + added) and which counts expired. Counts only move between
tiers, so everything the plan prunes is in its upserts or its expired list.

Every cut is aligned to the coarser bucket (raw ends on an hour, hourly on a day, daily on
a Monday), so a bucket is made once, whole. Times are UTC (ISO weeks start Monday 00:00
UTC): there is no daylight saving time, and a naive time is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Granularity(StrEnum):
    RAW = "raw"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


_ORDER = {Granularity.RAW: 0, Granularity.HOUR: 1, Granularity.DAY: 2, Granularity.WEEK: 3}


class RetentionPolicy(BaseModel):
    """How long each tier keeps counts before they move to the next (a store setting)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw: timedelta = Field(timedelta(days=1), ge=timedelta(0), description="Raw counts are kept this long.")
    hourly: timedelta = Field(timedelta(days=7), description="Hourly buckets are kept until this age.")
    daily: timedelta = Field(timedelta(days=31), description="Daily buckets are kept until this age.")
    weekly: timedelta | None = Field(None, description="Weekly buckets are kept until this age; None: forever.")

    @model_validator(mode="after")
    def _rising(self) -> RetentionPolicy:
        ages = [self.raw, self.hourly, self.daily] + ([self.weekly] if self.weekly is not None else [])
        if ages != sorted(ages):
            raise ValueError("retention must not shrink from raw to hourly to daily to weekly")
        return self


def utc(time: datetime) -> datetime:
    if time.tzinfo is None:
        raise ValueError(f"time {time.isoformat()} has no time zone; rollups need UTC times")
    return time.astimezone(UTC)


def floor(time: datetime, granularity: Granularity) -> datetime:
    """The start of the bucket holding `time` (raw: the time itself)."""
    time = utc(time)
    if granularity == Granularity.RAW:
        return time
    hour = time.replace(minute=0, second=0, microsecond=0)
    if granularity == Granularity.HOUR:
        return hour
    day = hour.replace(hour=0)
    if granularity == Granularity.DAY:
        return day
    return day - timedelta(days=day.weekday())  # ISO week: Monday


@dataclass(frozen=True)
class Cutoffs:
    """Counts before `raw_before` are hourly at most, before `hourly_before` daily at most,
    before `daily_before` weekly, before `weekly_before` (when set) gone."""

    raw_before: datetime
    hourly_before: datetime
    daily_before: datetime
    weekly_before: datetime | None


def cutoffs(now: datetime, policy: RetentionPolicy) -> Cutoffs:
    now = utc(now)
    return Cutoffs(
        raw_before=floor(now - policy.raw, Granularity.HOUR),
        hourly_before=floor(now - policy.hourly, Granularity.DAY),
        daily_before=floor(now - policy.daily, Granularity.WEEK),
        weekly_before=floor(now - policy.weekly, Granularity.WEEK) if policy.weekly is not None else None,
    )


def tier(time: datetime, now: datetime, policy: RetentionPolicy) -> Granularity | None:
    """The granularity a count at `time` is kept at, at `now`; None once it expired."""
    return _tier(utc(time), cutoffs(now, policy))


def _tier(time: datetime, cut: Cutoffs) -> Granularity | None:
    if time >= cut.raw_before:
        return Granularity.RAW
    if time >= cut.hourly_before:
        return Granularity.HOUR
    if time >= cut.daily_before:
        return Granularity.DAY
    if cut.weekly_before is not None and floor(time, Granularity.WEEK) < cut.weekly_before:
        return None
    return Granularity.WEEK


Key = tuple[str, ...]  # what the store counts by: agent, module, status ... (its choice)


@dataclass(frozen=True)
class CountRow:
    granularity: Granularity
    start: datetime  # the bucket's start (raw: the count's own time), UTC
    key: Key
    count: int


def buckets(points: Iterable[tuple[datetime, Key, int]], granularity: Granularity) -> dict[tuple[datetime, Key], int]:
    """Counts with times summed into the buckets of `granularity`."""
    totals: dict[tuple[datetime, Key], int] = {}
    for time, key, count in points:
        slot = (floor(time, granularity), key)
        totals[slot] = totals.get(slot, 0) + count
    return totals


@dataclass
class RollupPlan:
    prune: list[CountRow] = field(default_factory=list)  # delete these rows
    upsert: list[CountRow] = field(default_factory=list)  # add these counts to their buckets
    expired: list[CountRow] = field(default_factory=list)  # among `prune`: counts past all retention

    @property
    def empty(self) -> bool:
        return not self.prune


def roll_up(rows: Iterable[CountRow], now: datetime, policy: RetentionPolicy) -> RollupPlan:
    """What to do at `now` so that every row sits in its tier. A row never moves to a finer
    tier (a longer retention set later does not bring detail back)."""
    plan = RollupPlan()
    moving: list[tuple[datetime, Key, int, Granularity]] = []
    cut = cutoffs(now, policy)
    for row in rows:
        target = _tier(utc(row.start), cut)
        if target is None:
            plan.prune.append(row)
            plan.expired.append(row)
            continue
        if _ORDER[target] <= _ORDER[row.granularity]:
            continue
        plan.prune.append(row)
        moving.append((row.start, row.key, row.count, target))
    for granularity in (Granularity.HOUR, Granularity.DAY, Granularity.WEEK):
        points = [(time, key, count) for time, key, count, target in moving if target == granularity]
        plan.upsert.extend(CountRow(granularity, start, key, count)
                           for (start, key), count in sorted(buckets(points, granularity).items()))
    return plan


def apply(rows: Iterable[CountRow], plan: RollupPlan) -> list[CountRow]:
    """The rows after `plan`: what a store holds once it carried the plan out."""
    pruned = {id(row) for row in plan.prune}
    kept: list[CountRow] = [row for row in rows if id(row) not in pruned]
    raw = [row for row in kept if row.granularity == Granularity.RAW]
    totals: dict[tuple[Granularity, datetime, Key], int] = {}
    for row in [row for row in kept if row.granularity != Granularity.RAW] + plan.upsert:
        slot: tuple[Granularity, datetime, Key] = (row.granularity, row.start, row.key)
        totals[slot] = totals.get(slot, 0) + row.count
    return raw + [CountRow(granularity, start, key, count) for (granularity, start, key), count in totals.items()]


__all__ = ["CountRow", "Cutoffs", "Granularity", "RetentionPolicy", "RollupPlan", "apply", "buckets", "cutoffs",
           "floor", "roll_up", "tier", "utc"]
