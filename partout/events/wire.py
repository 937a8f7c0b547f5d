"""The event pipeline's messages (DESIGN.md, "Events and statistical backoff").

An `Event` is one resource outcome on an agent. Agents never send single events: they send
an `EventBatch` per period, counts nested agent -> modules -> objects -> messages, as deep
as the batch's `Level` allows. The master answers with `Advice` (period, splay, level,
alive period) and republishes what it stored as `NodeEvent`s for third parties.

Titles and messages may hold any character, so in a batch they are map keys only in
base64url form (`key_of`); module names are subject tokens. Every string and collection
has a bound: `parse_batch` refuses an oversized or malformed batch with a reason.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from partout import subjects
from partout.errors import PartoutError
from partout.report import Status
from partout.wire import WireMessage

# A batch is one NATS message; the bound keeps it far under the server's 1 MiB payload.
MAX_BATCH_BYTES = 256 * 1024
MAX_MODULES = 128
MAX_LEAVES = 4096  # objects or messages in one batch, all modules together
MAX_TITLE_CHARS = 1024
MAX_MESSAGE_CHARS = 2048
MAX_AGENT_ID_CHARS = 128
MAX_BATCH_ID_CHARS = 64
# The longest period a batch may cover: an alive message is sent at least daily, a spool
# may fold weeks of offline detail into one batch.
MAX_PERIOD = timedelta(days=400)
# The module token of a node event republished from a batch too coarse to name a module.
ANY_MODULE = "_all"

TOKEN_PATTERN = r"^[A-Za-z0-9_\-]+$"
MODULE_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
_KEY = re.compile(r"^[A-Za-z0-9_\-]*$")


class Level(IntEnum):
    """How much detail a batch carries (the original's aggregation levels)."""

    ALIVE = 0  # only the periodic alive message, with the agent's count
    AGENT = 1  # counts per agent
    MODULE = 2  # per agent and module
    OBJECT = 3  # per agent, module and object (resource title)
    MESSAGE = 4  # per agent, module, object and message: full detail


class BatchRejected(PartoutError):
    """A batch that is oversized, malformed or of an unknown version; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"event batch rejected: {reason}")
        self.reason = reason


def key_of(text: str) -> str:
    """The map key of a title or message: base64url of its UTF-8, without padding, so that
    dots, dollars, slashes or NULs in a title are safe in any store or JSON path."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def text_of(key: str) -> str:
    """The title or message a key stands for (ValueError when it is not one)."""
    if not _KEY.match(key):
        raise ValueError(f"key {key[:40]!r} is not base64url")
    try:
        return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"key {key[:40]!r} does not decode to UTF-8 text") from exc


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _title_key(key: str) -> str:
    if len(text_of(key)) > MAX_TITLE_CHARS:
        raise ValueError(f"object title longer than {MAX_TITLE_CHARS} characters")
    return key


def _message_key(key: str) -> str:
    if len(text_of(key)) > MAX_MESSAGE_CHARS:
        raise ValueError(f"message longer than {MAX_MESSAGE_CHARS} characters")
    return key


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]
AgentId = Annotated[str, Field(min_length=1, max_length=MAX_AGENT_ID_CHARS, pattern=TOKEN_PATTERN)]
ModuleName = Annotated[str, Field(pattern=MODULE_PATTERN)]
TitleKey = Annotated[str, Field(max_length=4 * MAX_TITLE_CHARS * 4 // 3 + 4), AfterValidator(_title_key)]
MessageKey = Annotated[str, Field(max_length=4 * MAX_MESSAGE_CHARS * 4 // 3 + 4), AfterValidator(_message_key)]
Count = Annotated[int, Field(ge=0, le=2**53)]
StatusCounts = Annotated[dict[Status, Count], Field(max_length=len(Status))]


class Event(WireMessage):
    """One resource outcome: of a run, or of a real-time repair."""

    kind: ClassVar[str] = "event"

    agent_id: AgentId
    module: ModuleName = Field(description="The directive's module, e.g. 'file'.")
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, description="The resource title.")
    status: Status
    message: str = Field("", max_length=MAX_MESSAGE_CHARS, description="One line: what happened.")
    agent_time: UtcTime = Field(description="When it happened, by the agent's clock.")
    sequence: int = Field(0, ge=0, description="The policy sequence the agent was applying.")


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    count: Count
    by_status: StatusCounts = Field(default_factory=dict, description="The count split by status.")

    def check_counts(self, children: dict[str, Any] | None, where: str) -> None:
        if sum(self.by_status.values()) != self.count:
            raise ValueError(f"{where}: by_status adds up to {sum(self.by_status.values())}, count is {self.count}")
        if children is None:
            return
        if sum(child.count for child in children.values()) != self.count:
            raise ValueError(f"{where}: children add up to {sum(c.count for c in children.values())}, "
                             f"count is {self.count}")
        summed: dict[Status, int] = {}
        for child in children.values():
            if child.count == 0:
                raise ValueError(f"{where}: a child with a count of 0")
            for status, count in child.by_status.items():
                summed[status] = summed.get(status, 0) + count
        if {s: c for s, c in summed.items() if c} != {s: c for s, c in self.by_status.items() if c}:
            raise ValueError(f"{where}: by_status differs from the sum of its children's")


class MessageCount(_Node):
    """How often one message was seen for one object."""


class ObjectCount(_Node):
    """Counts for one object (resource title); `messages` keyed by `key_of(message)`."""

    messages: dict[MessageKey, MessageCount] | None = None


class ModuleCount(_Node):
    """Counts for one module; `objects` keyed by `key_of(title)`."""

    objects: dict[TitleKey, ObjectCount] | None = None


class EventBatch(WireMessage):
    """What an agent sends once per period on `partout.agent.<id>.events` (message id =
    `batch_id`). At level 0 it is the alive message: the agent's count and nothing else."""

    kind: ClassVar[str] = "event-batch"

    batch_id: str = Field(min_length=8, max_length=MAX_BATCH_ID_CHARS, pattern=TOKEN_PATTERN)
    agent_id: AgentId
    level: Level
    period_start: UtcTime = Field(description="Start of the period covered, agent clock.")
    period_end: UtcTime = Field(description="End of the period covered, agent clock.")
    sent_at: UtcTime = Field(description="When the batch was made, agent clock.")
    sequence: int = Field(0, ge=0, description="The highest policy sequence among its events.")
    count: Count
    by_status: StatusCounts = Field(default_factory=dict)
    modules: dict[ModuleName, ModuleCount] | None = Field(None, max_length=MAX_MODULES)

    @model_validator(mode="after")
    def _consistent(self) -> EventBatch:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.period_end - self.period_start > MAX_PERIOD:
            raise ValueError(f"the period covered is longer than {MAX_PERIOD.days} days")
        _Node(count=self.count, by_status=self.by_status).check_counts(self.modules, "batch")
        if (self.modules is not None) != (self.level >= Level.MODULE):
            raise ValueError(f"a level {int(self.level)} batch {'needs' if self.level >= 2 else 'has no'} modules")
        leaves = 0
        for name, module in (self.modules or {}).items():
            module.check_counts(module.objects, f"module {name}")
            if (module.objects is not None) != (self.level >= Level.OBJECT):
                raise ValueError(f"module {name}: objects must be present exactly at levels 3 and 4")
            for title, obj in (module.objects or {}).items():
                leaves += 1
                obj.check_counts(obj.messages, f"module {name} object {title[:40]}")
                if (obj.messages is not None) != (self.level == Level.MESSAGE):
                    raise ValueError(f"module {name}: messages must be present exactly at level 4")
                for message in (obj.messages or {}).values():
                    leaves += 1
                    message.check_counts(None, f"module {name} object {title[:40]} message")
        if leaves > MAX_LEAVES:
            raise ValueError(f"{leaves} objects and messages, more than {MAX_LEAVES}")
        return self

    @property
    def alive(self) -> bool:
        return self.level == Level.ALIVE


class Advice(WireMessage):
    """The master's answer to every batch: how the agent batches from now on."""

    kind: ClassVar[str] = "event-advice"

    period: float = Field(10.0, ge=1.0, le=7 * 86400.0, description="Seconds per batch (P).")
    splay: float = Field(0.05, ge=0.0, le=1.0, description="Fraction of P by which an agent's period varies.")
    level: Level = Level.MESSAGE
    alive_period: float = Field(86400.0, ge=60.0, le=31 * 86400.0,
                                description="Seconds between alive messages when nothing happens.")


class NodeEvent(WireMessage):
    """An event as third parties see it on `partout.node.<agent id>.<module>.<status>`:
    one count of a stored batch, as detailed as the batch was."""

    kind: ClassVar[str] = "node-event"

    agent_id: AgentId
    module: str = Field(pattern=MODULE_PATTERN + "|^" + ANY_MODULE + "$",
                        description=f"The module, or '{ANY_MODULE}' for a batch coarser than level 2.")
    status: Status
    title: str | None = Field(None, max_length=MAX_TITLE_CHARS, description="Present from level 3.")
    message: str | None = Field(None, max_length=MAX_MESSAGE_CHARS, description="Present at level 4.")
    count: int = Field(ge=1)
    level: Level
    batch_id: str = Field(max_length=MAX_BATCH_ID_CHARS)
    period_start: UtcTime
    period_end: UtcTime
    agent_time: UtcTime = Field(description="When the agent made the batch (its clock).")
    received_at: UtcTime = Field(description="When the master received it (the master's clock).")

    def subject(self) -> str:
        return subjects.node_event(self.agent_id, self.module, self.status.value)


class BatchCounted(WireMessage):
    """A master stored a batch: every other master counts it too, so that each throttle
    measures the whole fleet's rates, not the share of batches its queue group gave it."""

    kind: ClassVar[str] = "batch-counted"

    master: str = Field(min_length=1, max_length=64, pattern=TOKEN_PATTERN, description="The storing master's "
                        "instance id (random per start).")
    agent_id: AgentId
    period_start: UtcTime
    period_end: UtcTime
    count: Count
    received_at: float = Field(ge=0, description="When the storing master received it (epoch seconds).")


class AdviceSent(WireMessage):
    """A master told an agent new advice: the other masters note what the agent now holds, so
    that whichever advises it next compares its own advice with that (advice sent at a look,
    not with a batch, would otherwise be known to its sender only)."""

    kind: ClassVar[str] = "advice-sent"

    master: str = Field(min_length=1, max_length=64, pattern=TOKEN_PATTERN, description="The advising master's "
                        "instance id (random per start).")
    agent_id: AgentId
    advice: Advice


def parse_batch(data: bytes) -> EventBatch:
    """The batch in `data`, or BatchRejected saying why it cannot be one (size first, so an
    oversized payload is never parsed)."""
    if len(data) > MAX_BATCH_BYTES:
        raise BatchRejected(f"{len(data)} bytes, more than the limit of {MAX_BATCH_BYTES}")
    try:
        batch = EventBatch.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "batch"
        raise BatchRejected(f"{where}: {first['msg']} ({exc.error_count()} error(s))") from None
    if batch.v not in EventBatch.versions:
        raise BatchRejected(f"unknown version {batch.v}")
    return batch


def wire_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of every event message, by kind (for `partout doc --wire`)."""
    models: tuple[type[WireMessage], ...] = (Event, EventBatch, Advice, NodeEvent, BatchCounted, AdviceSent)
    return {model.kind: model.model_json_schema() for model in models}


__all__ = [
    "ANY_MODULE", "MAX_BATCH_BYTES", "Advice", "AdviceSent", "BatchCounted", "BatchRejected", "Event", "EventBatch", "Level", "MessageCount",
    "ModuleCount", "NodeEvent", "ObjectCount", "key_of", "parse_batch", "text_of", "wire_schemas",
]
