"""The event records of the master's store: what `Store.events`, `Store.event_counts` and
`Store.roll_up_events` speak in (the interface is in base.py).

A stored batch is kept as its leaves (`NodeEvent`s, partout.events.counts.node_events):
raw while young, then summed by (agent, module, status) into hourly, daily and weekly
buckets as `RetentionPolicy` says. Row times are the master's receive times: an agent's
clock may be wrong, and retention is the master's business."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from partout.events.rollup import Cutoffs, Granularity, RetentionPolicy, cutoffs
from partout.report import Status

MAX_EVENT_ROWS = 10_000  # one query's answer at most
ROLLUP_META_KEY = "events.rolled_up_at"


class EventQuery(BaseModel):
    """Which events an operator asks for; every condition given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: str | None = None
    module: str | None = None
    status: Status | None = None
    since: datetime | None = Field(None, description="Received at or after this time (master clock).")
    until: datetime | None = Field(None, description="Received before this time (master clock).")
    limit: int = Field(100, ge=1, le=MAX_EVENT_ROWS)


class EventCount(BaseModel):
    """A count of one tier: raw (start = the receive time), or a bucket of an hour, day or week."""

    model_config = ConfigDict(frozen=True)

    granularity: Granularity
    start: datetime
    agent_id: str
    module: str
    status: Status
    count: int


class RollupSummary(BaseModel):
    """What one roll-up did."""

    model_config = ConfigDict(frozen=True)

    moved: int = Field(0, description="Counts moved to a coarser tier (their sum).")
    expired: int = Field(0, description="Counts past every retention, deleted (their sum).")
    reports_pruned: int = 0
    batch_ids_pruned: int = 0


def event_time(value: datetime) -> str:
    """Fixed-width UTC ISO text (microseconds always written): text order is time order."""
    if value.tzinfo is None:
        raise ValueError(f"time {value.isoformat()} has no time zone")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def bucket_end(count: EventCount) -> datetime:
    """When a count's bucket ends (a raw count: its own time)."""
    return count.start + {Granularity.HOUR: timedelta(hours=1), Granularity.DAY: timedelta(days=1),
                          Granularity.WEEK: timedelta(weeks=1)}.get(count.granularity, timedelta(0))


def overlapping(counts: list[EventCount], query: EventQuery) -> list[EventCount]:
    """The counts whose bucket overlaps [since, until), oldest first (coarser first at one start)."""
    order = list(Granularity)
    kept = [count for count in counts
            if (query.since is None or bucket_end(count) > query.since or count.start >= query.since)
            and (query.until is None or count.start < query.until)]
    return sorted(kept, key=lambda c: (c.start, -order.index(c.granularity), c.agent_id, c.module, c.status))


def rollup_due(last: datetime | None, now: datetime, retention: RetentionPolicy) -> bool:
    """Whether a cut moved since the last roll-up (cuts move on hour boundaries, or where
    the configured ages put them): the writer rolls up as it goes, at most once per move."""
    return last is None or cutoffs(last, retention) != cutoffs(now, retention)


def reports_before(now: datetime, retention: RetentionPolicy) -> datetime:
    """Reports received before this are pruned (each agent keeps its newest): a report is
    detail that cannot be summed, kept as long as the events of its day are kept by day."""
    return now - retention.daily


def batch_ids_before(now: datetime, retention: RetentionPolicy) -> datetime:
    """Batch ids (the redelivery guard) are kept as long as hourly counts, at least a week:
    the events stream keeps a batch 7 days, so no redelivery comes later."""
    return now - max(retention.hourly, timedelta(days=7))


__all__ = ["Cutoffs", "EventCount", "EventQuery", "Granularity", "MAX_EVENT_ROWS", "ROLLUP_META_KEY", "RollupSummary",
           "batch_ids_before", "bucket_end", "overlapping", "event_time", "reports_before", "rollup_due"]
