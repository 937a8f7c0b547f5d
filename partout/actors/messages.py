"""The messages actors exchange: small immutable values with documented fields.

Replies travel as callables carried in the message (`reply`), not as futures, so
the run coordinator never blocks a pool thread waiting on a resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from partout.report import ResourceResult

if TYPE_CHECKING:
    from partout.actors.flap import RepairLimit
    from partout.modules.base import Change, RunContext


@dataclass(frozen=True)
class Finished:
    """What a resource actor answers: its result and, after a `Check`, the change found."""

    result: ResourceResult
    change: Change | None = None


Reply = Callable[[Finished], None]


@dataclass(frozen=True)
class Run:
    """Guards, check and (unless noop) apply; then the actions of the events that fired.

    `triggers` are (event, action) pairs whose event fired in this run."""

    context: RunContext
    reply: Reply
    triggers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Check:
    """Guards and check only: the coordinator batches the applies (`apply_batch`)."""

    context: RunContext
    reply: Reply


@dataclass(frozen=True)
class Apply:
    """Apply a change that a `Check` found."""

    context: RunContext
    change: Change
    reply: Reply


@dataclass(frozen=True)
class PathChanged:
    """A watched path changed on disk (sent by the watcher thread): repair now."""

    path: Path


@dataclass(frozen=True)
class PollDue:
    """A resource's poll interval elapsed: re-check it. `session` tells a timer set
    by an earlier watch apart from the current one."""

    session: int = 0


@dataclass(frozen=True)
class StartWatching:
    """Repair drift from now on, delivering each repair's result to `on_result`, at most
    as often as `limit` allows (None: the default limit)."""

    context: RunContext
    on_result: Callable[[ResourceResult], None]
    limit: RepairLimit | None = None


@dataclass(frozen=True)
class StopWatching:
    """Stop repairing; events still queued are ignored."""


@dataclass(frozen=True)
class DebounceElapsed:
    """The debounce window after a repair closed (sent by the pool's timer)."""

    generation: int = field(default=0)
