"""The trigger records of the master's store: every trigger it routed or refused, for
`partout events` (who sent it, where it was meant to go, the agents it reached).

The interface (`Store.record_trigger`, `Store.triggers`) is in base.py; records are
idempotent by trigger_id (a second record of one id changes nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TRIGGER_ROWS = 10_000
TriggerStatus = Literal["fired", "refused"]


class TriggerRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    trigger_id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=200, description="The trigger's name (as sent, when refused).")
    sender: str = Field("", max_length=200, description="operator <key prefix>, an integration's name, or "
                        "rule:<name>; empty when no identity could be trusted.")
    sender_key: str = Field("", max_length=200, description="The public key that signed it (claimed, when refused).")
    where: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime
    reached: tuple[str, ...] = Field((), description="Ids of the agents it was routed to.")
    status: TriggerStatus = "fired"
    reason: str = Field("", description="Why it was refused, or the query's warnings.")


class TriggerQuery(BaseModel):
    """Which triggers an operator asks for; every condition given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    agent_id: str | None = Field(None, description="Only the triggers that reached this agent.")
    since: datetime | None = Field(None, description="Received at or after this time (master clock).")
    limit: int = Field(100, ge=1, le=MAX_TRIGGER_ROWS)


__all__ = ["MAX_TRIGGER_ROWS", "TriggerQuery", "TriggerRecord", "TriggerStatus"]
