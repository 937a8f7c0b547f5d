"""Event counts as flat leaves, and the nested batch trees built from them.

A leaf is (module, title, message, status) with None for what a level does not carry;
counting into a `Counter` of leaves is exact by construction, and every coarser view
(a lower level, a merge of batches, the node events of a batch) is the same counter with
parts of its keys set to None and summed. Nothing here ever drops a count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from partout.events.wire import (
    ANY_MODULE, MAX_BATCH_BYTES, MAX_LEAVES, MAX_MODULES, EventBatch, Level, MessageCount, ModuleCount, NodeEvent,
    ObjectCount, key_of, text_of,
)
from partout.report import Status

LeafKey = tuple[str | None, str | None, str | None, Status]  # module, title, message, status
Leaves = Counter[LeafKey]


def coarsen_key(key: LeafKey, level: Level) -> LeafKey:
    module, title, message, status = key
    return (module if level >= Level.MODULE else None,
            title if level >= Level.OBJECT else None,
            message if level >= Level.MESSAGE else None,
            status)


def coarsen(leaves: Leaves, level: Level) -> Leaves:
    """The same counts with only what `level` carries."""
    coarse: Leaves = Counter()
    for key, count in leaves.items():
        coarse[coarsen_key(key, level)] += count
    return coarse


def leaves_of(batch: EventBatch) -> Leaves:
    """The counts of a batch as leaves at the batch's level."""
    leaves: Leaves = Counter()
    if batch.modules is None:
        for status, count in batch.by_status.items():
            leaves[(None, None, None, status)] += count
        return leaves
    for module_name, module in batch.modules.items():
        if module.objects is None:
            for status, count in module.by_status.items():
                leaves[(module_name, None, None, status)] += count
            continue
        for title_key, obj in module.objects.items():
            title = text_of(title_key)
            if obj.messages is None:
                for status, count in obj.by_status.items():
                    leaves[(module_name, title, None, status)] += count
                continue
            for message_key, message in obj.messages.items():
                for status, count in message.by_status.items():
                    leaves[(module_name, title, text_of(message_key), status)] += count
    return leaves


def _by_status(items: Iterable[tuple[LeafKey, int]]) -> dict[Status, int]:
    totals: dict[Status, int] = defaultdict(int)
    for key, count in items:
        totals[key[3]] += count
    return {status: totals[status] for status in Status if totals.get(status)}


def tree_fields(leaves: Leaves, level: Level) -> dict[str, object]:
    """count, by_status and modules of a batch at `level` holding `leaves`."""
    coarse = {key: count for key, count in coarsen(leaves, level).items() if count}
    fields: dict[str, object] = {"count": sum(coarse.values()), "by_status": _by_status(coarse.items())}
    if level < Level.MODULE:
        fields["modules"] = None
        return fields
    grouped: dict[str, dict[str | None, dict[str | None, list[tuple[LeafKey, int]]]]] = {}
    for key, count in coarse.items():
        module, title, message, _ = key
        grouped.setdefault(module or "", {}).setdefault(title, {}).setdefault(message, []).append((key, count))
    modules: dict[str, ModuleCount] = {}
    for module_name, titles in grouped.items():
        module_items = [item for messages in titles.values() for items in messages.values() for item in items]
        objects: dict[str, ObjectCount] | None = None
        if level >= Level.OBJECT:
            objects = {}
            for title, messages in titles.items():
                object_items = [item for items in messages.values() for item in items]
                message_counts: dict[str, MessageCount] | None = None
                if level >= Level.MESSAGE:
                    message_counts = {
                        key_of(message or ""): MessageCount(count=sum(c for _, c in items),
                                                            by_status=_by_status(items))
                        for message, items in messages.items()
                    }
                objects[key_of(title or "")] = ObjectCount(count=sum(c for _, c in object_items),
                                                           by_status=_by_status(object_items),
                                                           messages=message_counts)
        modules[module_name] = ModuleCount(count=sum(c for _, c in module_items),
                                           by_status=_by_status(module_items), objects=objects)
    fields["modules"] = modules
    return fields


def detail_level(leaves: Leaves) -> Level:
    """The finest level every leaf has the parts for."""
    level = Level.MESSAGE
    for module, title, message, _ in leaves:
        if module is None:
            return Level.AGENT
        if title is None:
            level = Level.MODULE
        elif message is None and level > Level.OBJECT:
            level = Level.OBJECT
    return level


def _fits(leaves: Leaves, level: Level) -> bool:
    """Cheap bounds before building: distinct modules and leaves at `level`."""
    if level < Level.MODULE:
        return True
    coarse = coarsen(leaves, level)
    modules = {key[0] for key in coarse}
    if len(modules) > MAX_MODULES:
        return False
    if level == Level.MODULE:
        return True
    objects = {key[:2] for key in coarse}
    messages = {key[:3] for key in coarse} if level == Level.MESSAGE else set()
    return len(objects) + len(messages) <= MAX_LEAVES


def build_batch(leaves: Leaves, level: Level, *, batch_id: str, agent_id: str, period_start: datetime,
                period_end: datetime, sent_at: datetime, sequence: int = 0) -> EventBatch:
    """A batch holding `leaves` at `level`, or at the finest coarser level whose batch stays
    within the wire bounds (level 1 always does): too much detail costs detail, not counts."""
    if level > Level.AGENT:
        level = min(level, detail_level(leaves))
    while True:
        if _fits(leaves, level) or level <= Level.AGENT:
            batch = EventBatch(batch_id=batch_id, agent_id=agent_id, level=level, period_start=period_start,
                               period_end=period_end, sent_at=sent_at, sequence=sequence,
                               **tree_fields(leaves, level))
            if level <= Level.AGENT or len(batch.model_dump_json()) <= MAX_BATCH_BYTES:
                return batch
        level = Level(level - 1)


def merge_batches(batches: list[EventBatch], *, batch_id: str, level: Level, sent_at: datetime) -> EventBatch:
    """One batch holding every count of `batches` (one agent's), covering all their periods,
    at `level` or coarser (never finer than the coarsest of them)."""
    if not batches:
        raise ValueError("merge_batches needs at least one batch")
    agents = {batch.agent_id for batch in batches}
    if len(agents) != 1:
        raise ValueError(f"cannot merge the batches of several agents: {sorted(agents)}")
    total: Leaves = Counter()
    for batch in batches:
        total.update(leaves_of(batch))
    merged_level = Level(min(min(batch.level for batch in batches), level))
    return build_batch(total, merged_level, batch_id=batch_id, agent_id=batches[0].agent_id,
                       period_start=min(b.period_start for b in batches),
                       period_end=max(b.period_end for b in batches), sent_at=sent_at,
                       sequence=max(b.sequence for b in batches))


def node_events(batch: EventBatch, received_at: datetime) -> list[NodeEvent]:
    """What the master republishes of a stored batch: one node event per count the batch
    holds, as detailed as its level (module `_all` below level 2)."""
    return [NodeEvent(agent_id=batch.agent_id, module=module or ANY_MODULE, status=status, title=title,
                      message=message, count=count, level=batch.level, batch_id=batch.batch_id,
                      period_start=batch.period_start, period_end=batch.period_end, agent_time=batch.sent_at,
                      received_at=received_at)
            for (module, title, message, status), count in sorted(leaves_of(batch).items(), key=_order)]


def _order(item: tuple[LeafKey, int]) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in item[0])


__all__ = ["LeafKey", "Leaves", "build_batch", "coarsen", "coarsen_key", "detail_level", "leaves_of", "merge_batches",
           "node_events", "tree_fields"]
