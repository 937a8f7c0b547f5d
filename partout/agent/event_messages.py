"""What the agent's event children are told (frozen dataclasses), and the events child's
name (a key of `partout.agent.supervisor.CHILDREN`, beside those in partout.agent.messages).

    runner  --Outcomes(report)-->       events   every run report and drift repair report
    bus     --EventsNotice(params)-->   events   the master's Control "events" (advice, rejection)
    events  --PendingEvents(delta)-->   outbox   each report's counts, on disk until their batch is spooled
    events  --SpoolBatch(batch)-->      outbox   one batch per period, through the spool
    events  --RecoverPending()-->       outbox   at start: counts a killed agent left, spooled
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from partout.wire.fleet import RunReport

if TYPE_CHECKING:
    from partout.events.wire import EventBatch

EVENTS = "events"


@dataclass(frozen=True)
class Outcomes:
    """A report made by the runner: each of its resource results is one event."""

    report: RunReport


@dataclass(frozen=True)
class EventsNotice:
    """The parameters of a Control "events" from the master: {"advice": Advice} or
    {"rejected": {"batch_id", "reason"}}; checked by the events child, not trusted."""

    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class SpoolBatch:
    """An event batch to publish on the agent's events subject (spooled until acknowledged)."""

    batch: EventBatch


@dataclass(frozen=True)
class PendingEvents:
    """The counts of one report, under the id of the batch that will carry them (kept on
    disk so that a kill -9 before that batch is made loses none)."""

    delta: EventBatch


@dataclass(frozen=True)
class RecoverPending:
    """Told by a starting events child: counts on disk are from before it (a killed agent,
    or a predecessor that could not hand them over), and none is of a period it has opened."""


__all__ = ["EVENTS", "EventsNotice", "Outcomes", "PendingEvents", "RecoverPending", "SpoolBatch"]
