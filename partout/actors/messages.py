"""The messages actors exchange: small immutable values with documented fields.

Replies travel as callables carried in the message (`reply`), not as futures, so
the run coordinator never blocks a pool thread waiting on a resource.

They are NamedTuples rather than frozen dataclasses: as immutable, matched by class
pattern alike, but a fifth of the cost to define (start-up) and to create (one per
resource per run). Being tuples, two messages of different kinds with equal fields
compare equal: actors tell them apart by class (`match`), never by `==`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from partout.report import ResourceResult

if TYPE_CHECKING:
    from partout.actors.flap import RepairLimit
    from partout.modules.base import Change, RunContext


class Finished(NamedTuple):
    """What a resource actor answers: its result and, after a `Check`, the change found."""

    result: ResourceResult
    change: Change | None = None


Reply = Callable[[Finished], None]


class Run(NamedTuple):
    """Guards, check and (unless noop) apply; then the actions of the events that fired.

    `triggers` are (event, action) pairs whose event fired in this run."""

    context: RunContext
    reply: Reply
    triggers: tuple[tuple[str, str], ...] = ()


class Check(NamedTuple):
    """Guards and check only: the coordinator batches the applies (`apply_batch`)."""

    context: RunContext
    reply: Reply


class Apply(NamedTuple):
    """Apply a change that a `Check` found."""

    context: RunContext
    change: Change
    reply: Reply


class PathChanged(NamedTuple):
    """A watched path changed on disk (sent by the watcher thread): repair now."""

    path: Path


class PollDue(NamedTuple):
    """A resource's poll interval elapsed: re-check it. `session` tells a timer set
    by an earlier watch apart from the current one."""

    session: int = 0


class StartWatching(NamedTuple):
    """Repair drift from now on, delivering each repair's result to `on_result`, at most
    as often as `limit` allows (None: the default limit)."""

    context: RunContext
    on_result: Callable[[ResourceResult], None]
    limit: RepairLimit | None = None


class StopWatching(NamedTuple):
    """Stop repairing; events still queued are ignored."""


class DebounceElapsed(NamedTuple):
    """The debounce window after a repair closed (sent by the pool's timer)."""

    generation: int = 0
