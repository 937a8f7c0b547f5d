"""What the master tells an agent about its events, on the agent's control subject: a
`Control` with command "events" and one of two parameter shapes.

    {"advice": Advice}                       batch from now on with this period, splay, level
    {"rejected": {"batch_id", "reason"}}     a batch was dropped (malformed, oversized, forged)

    control = decode(Control, data)
    advice = advice_in(control)          # Advice | None
    rejection = rejection_in(control)    # Rejection | None
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout.events.wire import MAX_BATCH_ID_CHARS, Advice
from partout.wire.fleet import Control

EVENTS_COMMAND = "events"
MAX_REASON_CHARS = 300


class Rejection(BaseModel):
    """A batch the master dropped, and why (the batch id when it could be read)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    batch_id: str | None = Field(None, max_length=MAX_BATCH_ID_CHARS)
    reason: str = Field(max_length=MAX_REASON_CHARS)


def advice_control(advice: Advice) -> Control:
    return Control(command=EVENTS_COMMAND, parameters={"advice": advice.model_dump(mode="json")},
                   sent_at=datetime.now(UTC))


def rejection_control(batch_id: str | None, reason: str) -> Control:
    rejection = Rejection(batch_id=batch_id, reason=reason[:MAX_REASON_CHARS])
    return Control(command=EVENTS_COMMAND, parameters={"rejected": rejection.model_dump(mode="json")},
                   sent_at=datetime.now(UTC))


def advice_in(control: Control) -> Advice | None:
    """The advice a control message carries, None when it carries none (or a malformed one)."""
    if control.command != EVENTS_COMMAND or "advice" not in control.parameters:
        return None
    try:
        return Advice.model_validate(control.parameters["advice"])
    except ValidationError:
        return None


def rejection_in(control: Control) -> Rejection | None:
    if control.command != EVENTS_COMMAND or "rejected" not in control.parameters:
        return None
    try:
        return Rejection.model_validate(control.parameters["rejected"])
    except ValidationError:
        return None


__all__ = ["EVENTS_COMMAND", "Rejection", "advice_control", "advice_in", "rejection_control", "rejection_in"]
