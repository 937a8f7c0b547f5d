"""The operator API's `events` verb: stored events and counts, filtered.

    {agent?, module?, status?, since?, until?, limit?}  ->  {agent, matched, events, totals, subject, triggers}

`agent` is anything `match_agent` takes (id, key, unique prefix, hostname); times are ISO
8601 (the CLI turns `--since 1h` into one). `events` are the raw events, newest first (as many as fit in one reply: `truncated`
says when some did not);
`totals` sums every tier (raw, hour, day, week) by status and by tier, so counts that were
rolled up are still counted; `subject` is what `--follow` subscribes to for the same filter;
`triggers` are the triggers received since `since` (with `agent`: those that reached it), fired
or refused, newest first, `limit` at most.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from partout import subjects
from partout.errors import BusError, PartoutError
from partout.events.wire import NodeEvent
from partout.master.store.base import Store, match_agent
from partout.master.store.event_records import EventCount, EventQuery
from partout.master.store.trigger_records import MAX_TRIGGER_ROWS, TriggerQuery
from partout.master.store_actor import StoreHandle


# One reply is one NATS message (1 MiB at most by default): the events it lists stop here.
MAX_REPLY_EVENT_BYTES = 512 * 1024
MAX_REPLY_TRIGGER_BYTES = 256 * 1024  # and the triggers (whose data may be large) here


def _fitting(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first `items` whose JSON fits in `limit` bytes together."""
    import json

    kept, size = [], 0
    for item in items:
        size += len(json.dumps(item, default=str))
        if size > limit:
            break
        kept.append(item)
    return kept


def _time(value: object, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise PartoutError(f"events: {name} {str(value)[:60]!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _query(arguments: dict[str, Any], agent_id: str | None) -> EventQuery:
    try:
        return EventQuery(agent_id=agent_id, module=arguments.get("module") or None,
                          status=arguments.get("status") or None, since=_time(arguments.get("since"), "since"),
                          until=_time(arguments.get("until"), "until"), limit=int(arguments.get("limit") or 100))
    except (ValidationError, ValueError) as error:
        raise PartoutError(f"events: bad filter: {error}") from None


def follow_subject(agent_id: str | None, module: str | None, status: str | None) -> str:
    """The node-event subject that matches a filter (`*` for what it leaves open)."""
    try:
        return subjects.node_events_matching(agent_id, module, status)
    except BusError as error:
        raise PartoutError(f"events: {error}") from None


def events_reply(store: StoreHandle, arguments: dict[str, Any]) -> dict[str, Any]:
    agent: dict[str, Any] | None = None
    matched = None
    agent_id = None
    if arguments.get("agent"):
        record, matched = store.run(match_agent, str(arguments["agent"]))
        agent = record.model_dump(mode="json", exclude={"facts"})
        agent_id = record.agent_id or record.public_key
    query = _query(arguments, agent_id)
    events, counts = store.run(_read, query)
    triggers = store.triggers(TriggerQuery(agent_id=agent_id if agent is not None else None, since=query.since,
                                           limit=min(query.limit, MAX_TRIGGER_ROWS)))
    by_status: dict[str, int] = {}
    by_tier: dict[str, int] = {}
    for count in counts:
        by_status[count.status.value] = by_status.get(count.status.value, 0) + count.count
        by_tier[count.granularity.value] = by_tier.get(count.granularity.value, 0) + count.count
    shown, size = [], 0
    for event in events:  # newest first, as many as fit in one reply
        dumped = event.model_dump(mode="json")
        size += len(event.model_dump_json())
        if size > MAX_REPLY_EVENT_BYTES:
            break
        shown.append(dumped)
    return {
        "agent": agent, "matched": matched,
        "events": shown, "truncated": len(shown) < len(events),
        "totals": {"count": sum(by_status.values()), "by_status": by_status, "by_tier": by_tier},
        "subject": follow_subject(agent_id, query.module, query.status.value if query.status else None),
        "triggers": _fitting([trigger.model_dump(mode="json") for trigger in triggers], MAX_REPLY_TRIGGER_BYTES),
    }


def _read(store: Store, query: EventQuery) -> tuple[list[NodeEvent], list[EventCount]]:
    return store.events(query), store.event_counts(query)


__all__ = ["events_reply", "follow_subject"]
