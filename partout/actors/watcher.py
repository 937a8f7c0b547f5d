"""`WatcherActor`: owns the one watchdog observer and routes filesystem events to the
resource actors that registered the path.

inotify watches directories, and replacing or deleting a file shows as an event on
its parent, so the watcher watches each registered path's parent directory (not
recursively). The routing table is rebuilt by the actor and swapped in whole; the
watchdog thread only reads the current table and `tell`s, so it never waits on an
actor. Open and close-without-write events are not subscribed: a resource's own
check reads its file, and hearing that would make it check again forever.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
from pykka import ActorDeadError

from partout.actors.messages import PathChanged
from partout.actors.pool import PooledActor, WorkerPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Register:
    """Route events on each entry's paths to its actor. One message for a whole catalog:
    the routing table is copied once per message, not once per resource."""

    entries: tuple[tuple[pykka.ActorRef[Any], tuple[Path, ...]], ...]


@dataclass(frozen=True)
class UnregisterAll:
    """Forget every registration (a new catalog is about to register its own)."""


Routes = Mapping[str, tuple[pykka.ActorRef[Any], ...]]


class WatcherActor(PooledActor):
    def __init__(self, *, pool: WorkerPool | None = None) -> None:
        super().__init__(pool=pool)
        self._routes: dict[str, tuple[pykka.ActorRef[Any], ...]] = {}
        self._watched_directories: dict[str, Any] = {}
        self._observer: Any = None
        self._handler: Any = None

    def on_receive(self, message: Any) -> Any:
        match message:
            case Register(entries=entries):
                self._register(entries)
            case UnregisterAll():
                self._routes = {}
                self._publish()
            case _:
                return super().on_receive(message)
        return None

    def on_stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _register(self, entries: tuple[tuple[pykka.ActorRef[Any], tuple[Path, ...]], ...]) -> None:
        routes = dict(self._routes)
        for actor, paths in entries:
            for path in paths:
                key = os.path.normpath(os.fspath(path))
                current = routes.get(key, ())
                if actor not in current:
                    routes[key] = (*current, actor)
                self._watch_directory(os.path.dirname(key) or "/")
        self._routes = routes
        self._publish()

    def _publish(self) -> None:
        if self._handler is not None:
            self._handler.routes = self._routes  # one reference swap: atomic for readers

    def _watch_directory(self, directory: str) -> None:
        if directory in self._watched_directories:
            return
        if self._observer is None:
            self._start_observer()
        # The closest existing ancestor: a managed file's directory may not exist yet.
        existing = directory
        while not os.path.isdir(existing) and existing not in ("/", ""):
            existing = os.path.dirname(existing)
        try:
            watch = self._observer.schedule(self._handler, existing, recursive=False,
                                            event_filter=_event_filter())
        except OSError as exc:
            log.warning("cannot watch directory", extra={"directory": existing, "error": str(exc)})
            return
        self._watched_directories[directory] = watch

    def _start_observer(self) -> None:
        from watchdog.observers import Observer

        self._handler = _RoutingHandler(self._routes)
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()


def _event_filter() -> list[type[Any]]:
    from watchdog import events

    return [
        events.FileCreatedEvent, events.FileDeletedEvent, events.FileModifiedEvent,
        events.FileAttribEvent, events.FileMovedEvent, events.FileClosedEvent,
        events.DirCreatedEvent, events.DirDeletedEvent, events.DirMovedEvent, events.DirAttribEvent,
    ]


class _RoutingHandler:
    """Runs on watchdog's thread: looks up the paths of an event and tells their actors."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    def dispatch(self, event: Any) -> None:
        routes = self.routes
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = os.fsdecode(raw)
            for actor in routes.get(path, ()):
                try:
                    actor.tell(PathChanged(Path(path)))
                except ActorDeadError:
                    continue
