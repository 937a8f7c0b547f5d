"""The event messages: versioned, bounded, consistent counts, keys safe for any character."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from partout.events.counts import build_batch, coarsen, detail_level, leaves_of, merge_batches, node_events
from partout.events.wire import (
    ANY_MODULE, MAX_BATCH_BYTES, MAX_MODULES, Advice, BatchRejected, Event, EventBatch, Level, NodeEvent, key_of,
    parse_batch, text_of, wire_schemas,
)
from partout.report import Status

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "a.b$c/d\x00e \"quoted\" ünïcødé 🚀 ../.. {json} %s"


def leaves(*items: tuple[str, str, str, Status, int]) -> Counter[tuple[str | None, str | None, str | None, Status]]:
    counter: Counter[tuple[str | None, str | None, str | None, Status]] = Counter()
    for module, title, message, status, count in items:
        counter[(module, title, message, status)] += count
    return counter


SAMPLE = leaves(("file", "/etc/motd", "content changed", Status.CHANGED, 3),
                ("file", "/etc/motd", "mode changed", Status.CHANGED, 1),
                ("file", HOSTILE, HOSTILE, Status.FAILED, 2),
                ("package", "nginx", "installed", Status.CHANGED, 1))


def batch_at(level: Level, counts: Counter[tuple[str | None, str | None, str | None, Status]] = SAMPLE) -> EventBatch:
    return build_batch(counts, level, batch_id="b" * 32, agent_id="web1", period_start=T0,
                       period_end=T0 + timedelta(seconds=10), sent_at=T0 + timedelta(seconds=10))


def test_keys_round_trip_any_character() -> None:
    for text in (HOSTILE, "", ".", "$where", "a" * 1024):
        key = key_of(text)
        assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert text_of(key) == text


def test_a_key_that_is_not_base64url_text_is_refused() -> None:
    with pytest.raises(ValueError, match="not base64url"):
        text_of("a.b")
    with pytest.raises(ValueError, match="UTF-8"):
        text_of("__4")  # base64url of b"\xff\xfe", not UTF-8


@pytest.mark.parametrize("level", list(Level))
def test_a_batch_at_every_level_counts_every_event(level: Level) -> None:
    batch = batch_at(level)
    assert batch.level == level
    assert batch.count == 7
    assert batch.by_status == {Status.CHANGED: 5, Status.FAILED: 2}
    assert sum(leaves_of(batch).values()) == 7
    assert leaves_of(batch) == coarsen(SAMPLE, level)


def test_the_levels_nest_agent_modules_objects_messages() -> None:
    full = batch_at(Level.MESSAGE)
    assert full.modules is not None
    motd = full.modules["file"].objects[key_of("/etc/motd")]  # type: ignore[index]
    assert motd.count == 4
    assert motd.messages[key_of("mode changed")].count == 1  # type: ignore[index]
    assert batch_at(Level.OBJECT).modules["file"].objects[key_of(HOSTILE)].messages is None  # type: ignore[index]
    assert batch_at(Level.MODULE).modules["package"].objects is None  # type: ignore[index]
    assert batch_at(Level.AGENT).modules is None
    assert batch_at(Level.ALIVE).alive


def test_a_batch_survives_the_wire_unchanged() -> None:
    batch = batch_at(Level.MESSAGE)
    again = parse_batch(batch.model_dump_json().encode())
    assert again == batch
    assert leaves_of(again) == SAMPLE


def test_times_are_kept_in_utc_and_naive_times_are_refused() -> None:
    paris = timezone(timedelta(hours=1))
    event = Event(agent_id="web1", module="file", title="/x", status=Status.CHANGED,
                  agent_time=datetime(2024, 3, 1, 13, 0, tzinfo=paris))
    assert event.agent_time == T0 and event.agent_time.tzinfo == UTC
    with pytest.raises(ValidationError, match="timezone"):
        Event(agent_id="web1", module="file", title="/x", status=Status.CHANGED, agent_time=datetime(2024, 3, 1))


def tampered(change: str) -> bytes:
    data = json.loads(batch_at(Level.MESSAGE).model_dump_json())
    if change == "count":
        data["count"] += 1
    elif change == "by_status":
        data["by_status"]["changed"] -= 1
        data["by_status"]["skipped"] = 1
    elif change == "module count":
        data["modules"]["file"]["count"] += 1
    elif change == "missing modules":
        data["modules"] = None
    elif change == "modules at level 1":
        data["level"] = 1
    elif change == "objects at level 2":
        data["level"] = 2
    elif change == "backwards period":
        data["period_end"] = "2024-03-01T11:00:00Z"
    elif change == "negative":
        data["by_status"]["failed"] = -2
        data["by_status"]["changed"] += 4
    elif change == "bad module":
        data["modules"]["fi.le"] = data["modules"].pop("file")
    elif change == "bad agent":
        data["agent_id"] = "web1.>"
    elif change == "bad key":
        data["modules"]["package"]["objects"]["no.t base64"] = data["modules"]["package"]["objects"].popitem()[1]
    elif change == "zero child":
        data["modules"]["zero"] = {"count": 0, "by_status": {}, "objects": {}}
    elif change == "unknown status":
        data["by_status"]["exploded"] = data["by_status"].pop("failed")
    elif change == "not json":
        return b"{not json"
    return json.dumps(data).encode()


@pytest.mark.parametrize("change", [
    "count", "by_status", "module count", "missing modules", "modules at level 1", "objects at level 2",
    "backwards period", "negative", "bad module", "bad agent", "bad key", "zero child", "unknown status", "not json",
])
def test_a_malformed_batch_is_rejected_with_a_reason(change: str) -> None:
    with pytest.raises(BatchRejected) as caught:
        parse_batch(tampered(change))
    assert caught.value.reason


def test_an_oversized_batch_is_rejected_before_it_is_parsed() -> None:
    with pytest.raises(BatchRejected, match=f"more than the limit of {MAX_BATCH_BYTES}"):
        parse_batch(b"{" + b" " * MAX_BATCH_BYTES + b"}")


def test_an_unknown_version_is_rejected() -> None:
    data = json.loads(batch_at(Level.AGENT).model_dump_json())
    data["v"] = 99
    with pytest.raises(BatchRejected, match="unknown version 99"):
        parse_batch(json.dumps(data).encode())


def test_overlong_strings_are_refused_in_events() -> None:
    with pytest.raises(ValidationError, match="title"):
        Event(agent_id="web1", module="file", title="x" * 1025, status=Status.OK, agent_time=T0)
    with pytest.raises(ValidationError, match="message"):
        Event(agent_id="web1", module="file", title="x", message="m" * 2049, status=Status.OK, agent_time=T0)
    with pytest.raises(ValidationError, match="agent_id"):
        Event(agent_id="w" * 129, module="file", title="x", status=Status.OK, agent_time=T0)


def test_too_much_detail_is_built_at_a_coarser_level_with_every_count() -> None:
    many_titles = leaves(*((f"m{i % 3}", f"/srv/{i}/" + "x" * 200, f"message {i}", Status.CHANGED, 1)
                           for i in range(3000)))
    batch = batch_at(Level.MESSAGE, many_titles)
    assert batch.level < Level.MESSAGE
    assert batch.count == 3000
    assert len(batch.model_dump_json()) <= MAX_BATCH_BYTES
    many_modules = leaves(*((f"m{i}", "t", "m", Status.OK, 1) for i in range(MAX_MODULES + 1)))
    coarse = batch_at(Level.MESSAGE, many_modules)
    assert coarse.level == Level.AGENT and coarse.count == MAX_MODULES + 1


def test_a_batch_is_never_built_finer_than_its_counts() -> None:
    module_only = coarsen(SAMPLE, Level.MODULE)
    assert detail_level(module_only) == Level.MODULE
    assert batch_at(Level.MESSAGE, module_only).level == Level.MODULE


def test_merging_batches_sums_counts_and_covers_every_period() -> None:
    first = batch_at(Level.MESSAGE)
    later = build_batch(SAMPLE, Level.OBJECT, batch_id="c" * 32, agent_id="web1",
                        period_start=T0 + timedelta(seconds=10), period_end=T0 + timedelta(seconds=70),
                        sent_at=T0 + timedelta(seconds=70), sequence=4)
    merged = merge_batches([first, later], batch_id="d" * 32, level=Level.MESSAGE, sent_at=later.sent_at)
    assert merged.level == Level.OBJECT
    assert merged.count == 14
    assert (merged.period_start, merged.period_end) == (T0, T0 + timedelta(seconds=70))
    assert merged.sequence == 4
    with pytest.raises(ValueError, match="several agents"):
        merge_batches([first, first.model_copy(update={"agent_id": "db1"})], batch_id="e" * 32,
                      level=Level.AGENT, sent_at=T0)


def test_advice_is_bounded() -> None:
    assert Advice().level == Level.MESSAGE
    with pytest.raises(ValidationError):
        Advice(period=0.1)
    with pytest.raises(ValidationError):
        Advice(splay=2.0)


def test_a_node_event_names_its_subject() -> None:
    event = NodeEvent(agent_id="web1", module="file", status=Status.FAILED, title=HOSTILE, count=2,
                      level=Level.OBJECT, batch_id="b" * 32, period_start=T0, period_end=T0, agent_time=T0,
                      received_at=T0)
    assert event.subject() == "partout.node.web1.file.failed"
    coarse = event.model_copy(update={"module": ANY_MODULE})
    assert coarse.subject() == "partout.node.web1._all.failed"
    with pytest.raises(ValidationError):
        NodeEvent.model_validate({**event.model_dump(), "module": "fi.le"})


def test_the_wire_schemas_describe_every_event_message() -> None:
    schemas = wire_schemas()
    assert set(schemas) == {"event", "event-batch", "event-advice", "node-event", "batch-counted", "advice-sent"}
    assert "agent_time" in schemas["event"]["properties"]
    assert "received_at" in schemas["node-event"]["properties"]
    assert "advice" in schemas["advice-sent"]["properties"]
    json.dumps(schemas)


def test_a_stored_batch_is_republished_as_node_events_as_detailed_as_its_level() -> None:
    received = T0 + timedelta(seconds=11)
    full = node_events(batch_at(Level.MESSAGE), received)
    assert sum(event.count for event in full) == 7
    failed = [event for event in full if event.status == Status.FAILED]
    assert [(e.subject(), e.title, e.message, e.count) for e in failed] == [
        ("partout.node.web1.file.failed", HOSTILE, HOSTILE, 2)]
    assert all(e.received_at == received and e.agent_time == T0 + timedelta(seconds=10) for e in full)
    coarse = node_events(batch_at(Level.AGENT), received)
    assert [(e.subject(), e.count, e.title) for e in coarse] == [
        ("partout.node.web1._all.changed", 5, None), ("partout.node.web1._all.failed", 2, None)]
    assert node_events(batch_at(Level.ALIVE, Counter()), received) == []
