"""Records to ArangoDB documents and back, without a server: what the queries write
is JSON that gives the same records again, and stored times sort as instants."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from partout.master.store import AgentRecord, AgentStatus, EnrolmentLogEntry, PolicyErrorRecord, PolicyVersion
from partout.master.store.arango.documents import (
    plain_json,
    record,
    report_document,
    report_record,
    stored_time,
    timed_document,
)
from partout.master.store.arango.schema import document_key
from partout.report import Report, ResourceResult, Status

ARANGO_KEY = re.compile(r"[A-Za-z0-9_\-:.@()+,=;$!*'%]{1,254}")


def over_the_wire(document: dict[str, Any]) -> dict[str, Any]:
    """What python-arango sends and ArangoDB gives back: JSON, plus the server's own attributes."""
    returned: dict[str, Any] = json.loads(json.dumps(document))
    return {**returned, "_id": f"somewhere/{returned.get('_key', 'k')}", "_rev": "_hV3y--A---"}


def test_stored_times_have_one_width_and_sort_as_instants() -> None:
    randomness = random.Random(12)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), None]
    times = [
        datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=randomness.randrange(10**8),
                                                     microseconds=randomness.choice([0, 1, 500000]))
        for _ in range(300)
    ]
    shown = [moment.astimezone(zone) if zone is not None else moment.replace(tzinfo=None)
             for moment, zone in zip(times, zones * 75, strict=True)]
    texts = [stored_time(moment) for moment in shown]
    assert len({len(text) for text in texts}) == 1
    assert sorted(texts) == [stored_time(moment) for moment in sorted(times)]
    assert stored_time(datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))) == (
        "2030-01-01T07:00:00.000000+00:00")


def test_a_report_document_gives_back_the_same_report() -> None:
    started = datetime(2030, 1, 1, 12, 0, 0, 250, tzinfo=timezone(timedelta(hours=2)))
    report = Report(
        policy="site.p2", hostname="web1", started_at=started, duration=1.5, trigger="watch",
        results=[ResourceResult(id="file:/etc/motd", status=Status.CHANGED, summary="content", diff="-a\n+b\n",
                                duration=0.01),
                 ResourceResult(id="package:nginx", status=Status.FAILED, output="E: \u00e9chec")],
    )
    received = datetime(2030, 1, 1, 10, 0, 1, tzinfo=UTC)
    document = report_document("k", "r/1 é", "agent-1", report, "digest", received, {"changed": 1, "failed": 1})
    back = report_record(over_the_wire(document))
    assert back.report == report
    assert (back.report_id, back.agent_id, back.policy_digest) == ("r/1 é", "agent-1", "digest")
    assert back.started_at == started and back.started_at.tzinfo is not None
    assert back.received_at == received
    assert back.counts == {"changed": 1, "failed": 1}


def test_an_agent_document_ignores_arangodbs_own_attributes() -> None:
    agent = AgentRecord(public_key="UKEY", agent_id="id-1", hostname="web1", status=AgentStatus.APPROVED,
                        environment="production", enrolled_at=datetime(2030, 1, 1, tzinfo=UTC),
                        facts={"os": {"family": "debian"}}, facts_hash="h")
    document = {**agent.model_dump(mode="json"), "_key": document_key("UKEY")}
    assert record(AgentRecord, over_the_wire(document)) == agent


def test_log_records_come_back_equal() -> None:
    moment = datetime(2030, 6, 1, 8, 30, tzinfo=timezone(timedelta(hours=-4)))
    entry = EnrolmentLogEntry(time=moment, public_key="garbage", outcome="refused", reason="malformed key")
    error = PolicyErrorRecord(environment="production", message="boom", file="site.p2", line=3, time=moment)
    version = PolicyVersion(environment="production", sequence=7, digest="d", published_at=moment)
    assert record(EnrolmentLogEntry, over_the_wire(timed_document(entry, time=entry.time))) == entry
    assert record(PolicyErrorRecord, over_the_wire(timed_document(error, time=error.time))) == error
    assert record(PolicyVersion, over_the_wire(timed_document(version, published_at=version.published_at))) == version
    assert timed_document(entry, time=entry.time)["time"] == "2030-06-01T12:30:00.000000+00:00"


def test_facts_become_plain_json_as_in_sqlite() -> None:
    facts = {"path": Path("/etc"), "when": datetime(2030, 1, 1, tzinfo=UTC), "nested": {"n": [1, 2.5, None, True]}}
    assert plain_json(facts) == {"path": "/etc", "when": "2030-01-01 00:00:00+00:00",
                                 "nested": {"n": [1, 2.5, None, True]}}


def test_document_keys_are_valid_arangodb_keys_for_any_text() -> None:
    texts = ["UAAAA", "r/1", "with space", "é\u0000\n", "x" * 1000, "", "sha256-abc"]
    keys = [document_key(text) for text in texts]
    assert all(ARANGO_KEY.fullmatch(key) for key in keys)
    assert len(set(keys)) == len(keys)
    assert document_key("UAAAA") == document_key("UAAAA")


def test_document_keys_of_several_parts_do_not_run_together() -> None:
    assert document_key("ab", "c") != document_key("a", "bc")
    assert document_key("production", 1) != document_key("production", 11)
    assert document_key("production", 1) == document_key("production", "1")
