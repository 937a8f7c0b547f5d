"""What the master tells an agent about its events, on the agent's control subject: a
`Control` (partout.wire.fleet) with command "events" and one of two parameter shapes.

    {"advice": Advice}                       batch from now on with this period, splay, level
    {"rejected": {"batch_id", "reason"}}     a batch was dropped (malformed, oversized, forged)

    master:  Control(command=EVENTS_COMMAND, parameters=advice_parameters(advice))
    agent:   if control.command == EVENTS_COMMAND:
                 advice = advice_in(control.parameters)          # Advice | None
                 rejection = rejection_in(control.parameters)    # Rejection | None

(The Control model itself lives with the fleet's messages, which the event core does not import.)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout.events.wire import MAX_BATCH_ID_CHARS, Advice

EVENTS_COMMAND = "events"
MAX_REASON_CHARS = 300


class Rejection(BaseModel):
    """A batch the master dropped, and why (the batch id when it could be read)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    batch_id: str | None = Field(None, max_length=MAX_BATCH_ID_CHARS)
    reason: str = Field(max_length=MAX_REASON_CHARS)


def advice_parameters(advice: Advice) -> dict[str, Any]:
    return {"advice": advice.model_dump(mode="json")}


def rejection_parameters(batch_id: str | None, reason: str) -> dict[str, Any]:
    return {"rejected": Rejection(batch_id=batch_id, reason=reason[:MAX_REASON_CHARS]).model_dump(mode="json")}


def advice_in(parameters: dict[str, Any]) -> Advice | None:
    """The advice in an "events" control's parameters; None when there is none, or a malformed one."""
    if "advice" not in parameters:
        return None
    try:
        return Advice.model_validate(parameters["advice"])
    except ValidationError:
        return None


def rejection_in(parameters: dict[str, Any]) -> Rejection | None:
    if "rejected" not in parameters:
        return None
    try:
        return Rejection.model_validate(parameters["rejected"])
    except ValidationError:
        return None


__all__ = ["EVENTS_COMMAND", "Rejection", "advice_in", "advice_parameters", "rejection_in", "rejection_parameters"]
