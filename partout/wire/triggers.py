"""Triggers: "apply now, with this data" for the agents an inventory query selects.

    sender (operator key, or an integration with the trigger role)
        partout.trigger.<name>  -> TriggerRequest {name, where, data, nonce}, signed by its nkey
                                <- TriggerReply {ok, trigger_id, reached, error} in _INBOX_<its key>.…
    master -> partout.agent.<id>.control: Control "trigger" {"triggers": [FiredTrigger, ...]}
        (coalesced: each agent applies at most once per window, with every trigger that arrived)

Signed, unlike an agent's facts: several identities may publish `partout.trigger.>`, so the
subject cannot say who sent one, and `partout events` shows who did. The master refuses
(and logs) a trigger whose key is neither an operator's nor an active trigger integration's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from partout.wire import WireMessage
from partout.wire.fleet import SignedMessage
from partout.wire.inventory import MAX_QUERY_TEXT

MAX_TRIGGER_BYTES = 64 * 1024  # a larger request is refused before it is parsed
TRIGGER_NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,100}$"  # one subject token
TRIGGER_COMMAND = "trigger"  # the Control command that carries fired triggers to an agent


class TriggerRequest(SignedMessage):
    """Fire trigger `name` on the approved agents `where` matches (every environment)."""

    kind: ClassVar[str] = "trigger"

    name: str = Field(pattern=TRIGGER_NAME_PATTERN, description="Must equal the subject's last token.")
    where: str = Field("true", max_length=MAX_QUERY_TEXT, description="An inventory query selecting the agents.")
    data: dict[str, Any] = Field(default_factory=dict, description="Given to the policy's p2.on_trigger blocks.")
    nonce: str = Field(min_length=16, max_length=64, description="Random per request: a replay is refused.")


class TriggerReply(WireMessage):
    kind: ClassVar[str] = "trigger-reply"

    ok: bool
    trigger_id: str = ""
    reached: list[str] = Field(default_factory=list, description="Ids of the agents it was routed to.")
    warnings: list[str] = Field(default_factory=list)
    error: str = ""


class FiredTrigger(BaseModel):
    """One trigger as an agent receives it (in Control "trigger" parameters `triggers`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(pattern=TRIGGER_NAME_PATTERN)
    trigger_id: str = Field(max_length=64)
    sender: str = Field("", max_length=200, description="Who fired it: an operator, an integration's name, "
                        "or rule:<name> for a master rule.")
    data: dict[str, Any] = Field(default_factory=dict)


def fired_triggers(parameters: dict[str, Any]) -> tuple[FiredTrigger, ...] | None:
    """The triggers of a Control "trigger"'s parameters, or None when they are malformed."""
    from pydantic import ValidationError

    listed = parameters.get("triggers")
    if not isinstance(listed, list) or not listed:
        return None
    try:
        return tuple(FiredTrigger.model_validate(entry) for entry in listed)
    except ValidationError:
        return None


def trigger_parameters(triggers: list[FiredTrigger]) -> dict[str, Any]:
    """The Control "trigger" parameters that carry `triggers`."""
    return {"triggers": [trigger.model_dump(mode="json") for trigger in triggers]}


__all__ = [
    "MAX_TRIGGER_BYTES", "TRIGGER_COMMAND", "TRIGGER_NAME_PATTERN", "FiredTrigger", "TriggerReply",
    "TriggerRequest", "fired_triggers", "trigger_parameters",
]
