"""Records to documents and back: what the store's queries write and read.

Times are stored as fixed-width UTC ISO text (microseconds always written), so that
AQL's string order is time order whatever zone a time came in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from partout.master.store.base import ReportRecord
from partout.report import Report

Model = TypeVar("Model", bound=BaseModel)


def stored_time(value: datetime) -> str:
    """UTC ISO text of fixed width; naive times are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def plain_json(value: dict[str, Any]) -> dict[str, Any]:
    """`value` as JSON types only (what is not JSON becomes its str, as in SQLite)."""
    loaded: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return loaded


def timed_document(model: BaseModel, **times: datetime) -> dict[str, Any]:
    """`model` as a JSON document, with the named time fields in stored form."""
    return {**model.model_dump(mode="json"), **{name: stored_time(value) for name, value in times.items()}}


def record(model: type[Model], document: dict[str, Any]) -> Model:
    """The record in `document`, without ArangoDB's own attributes (_key, _id, _rev)."""
    return model.model_validate({name: value for name, value in document.items() if name in model.model_fields})


def report_document(key: str, report_id: str, agent_id: str, report: Report, policy_digest: str,
                    received_at: datetime, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "_key": key,
        "report_id": report_id,
        "agent_id": agent_id,
        "policy_digest": policy_digest,
        "started_at": stored_time(report.started_at),
        "received_at": stored_time(received_at),
        "duration": report.duration,
        "counts": counts,
        "report": report.model_dump(mode="json"),
    }


def report_record(document: dict[str, Any]) -> ReportRecord:
    fields = {name: document[name] for name in ReportRecord.model_fields if name != "report"}
    return ReportRecord.model_validate({**fields, "report": Report.model_validate(document["report"])})
