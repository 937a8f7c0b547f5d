"""`EnvironmentWatcherActor`: tells the policy publisher which environments changed on disk.

The environments dir is a tree (site.p2, templates/, files/, roles/ per environment) whose
files come and go, so it is watched recursively with one watchdog observer, not path by
path as the engine's WatcherActor does for managed resources. The observer's thread only
tells the actor what changed. Bursts (an editor's save, a `git pull`, an rsync) are
debounced: the actor schedules a `Settled` message `debounce` seconds after each event and
acts on the last one only, with one Rebuild of every environment changed meanwhile.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from partout.master.address import Address
from partout.master.policy import Rebuild
from partout.master.supervisor import Child, SupervisedActor, tell_later

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvironmentsTouched:
    """From the observer's thread: files of these environments changed."""

    environments: frozenset[str]


@dataclass(frozen=True)
class Settled:
    """Scheduled by the watcher: `debounce` seconds have passed since event number `event`."""

    event: int


def environment_of(root: Path, raw: bytes | str) -> str | None:
    """The environment a changed path belongs to, or None (outside, hidden, an editor's file)."""
    path = os.fsdecode(raw)
    try:
        relative = Path(path).relative_to(root)
    except ValueError:
        return None
    parts = relative.parts
    if not parts or parts[0].startswith("."):
        return None
    # editors' swap and backup files are not policy changes
    name = parts[-1]
    if name.startswith(".") or name.endswith(("~", ".swp", ".swx")):
        return None
    return parts[0]


class _Events:
    """watchdog's event handler protocol (`dispatch`), called on the observer's thread."""

    def __init__(self, root: Path, watcher: pykka.ActorRef[Any]) -> None:
        self._root = root
        self._watcher = watcher

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        names = frozenset(name for raw in (event.src_path, getattr(event, "dest_path", "")) if raw
                          if (name := environment_of(self._root, raw)) is not None)
        if names:
            try:
                self._watcher.tell(EnvironmentsTouched(names))
            except pykka.ActorDeadError:
                pass  # stopping: its on_stop stops this observer


class EnvironmentWatcherActor(SupervisedActor):
    def __init__(self, root: Path, publisher: Address, *, debounce: float = 0.2, child: Child | None = None) -> None:
        super().__init__(child=child)
        self._root = root
        self._publisher = publisher
        self._debounce = debounce
        self._changed: set[str] = set()
        self._events = 0
        self._observer: Any = None

    def start_up(self) -> None:
        from watchdog.observers import Observer

        self._root.mkdir(parents=True, exist_ok=True)
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_Events(self._root, self.actor_ref), str(self._root), recursive=True)
        self._observer.start()

    def on_stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def handle(self, message: object) -> None:
        match message:
            case EnvironmentsTouched(environments):
                self._changed |= environments
                self._events += 1
                tell_later(self._debounce, self.actor_ref, Settled(self._events))
            case Settled(event) if event == self._events and self._changed:
                changed, self._changed = frozenset(self._changed), set()
                log.info("environments changed", extra={"environments": sorted(changed)})
                self._publisher.tell(Rebuild(changed))
            case Settled():
                pass  # more events came since: a later Settled will do it
            case _:
                super().handle(message)


__all__ = ["EnvironmentWatcherActor", "EnvironmentsTouched", "Settled", "environment_of"]
