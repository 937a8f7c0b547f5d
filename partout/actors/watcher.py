"""`WatcherActor`: routes filesystem changes of registered paths to the resource actors
that registered them, through one inotify instance and one thread for the process.

The actor keeps the routing table (path -> actors) and hands each new table to the
`WatchThread` (partout.actors.watch_thread), which owns the inotify descriptor, arms
the directories and tells actors. A path whose directory is on a filesystem where
inotify sees only local changes (NFS, CIFS, FUSE ...) or that finds the watch limit
reached is polled by the same thread instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from partout.actors.pool import PooledActor, WorkerPool
from partout.actors.watch_thread import DIRECTORY_SUFFIX, POLL_INTERVAL, Routes, WatchThread

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Register:
    """Route events on each entry's paths to its actor. One message for a whole catalog:
    the routing table is copied once per message, not once per resource."""

    entries: tuple[tuple[pykka.ActorRef[Any], tuple[Path, ...]], ...]
    # Same shape: directories any of whose entries changing concerns the actor.
    directories: tuple[tuple[pykka.ActorRef[Any], tuple[Path, ...]], ...] = ()
    # Replace every earlier registration in one step (a policy reload): the watches that
    # both policies need stay armed throughout, so no drift is missed in between.
    replace: bool = False


@dataclass(frozen=True)
class UnregisterAll:
    """Forget every registration (a new catalog is about to register its own)."""


class WatcherActor(PooledActor):
    def __init__(self, *, pool: WorkerPool | None = None, poll_interval: float = POLL_INTERVAL,
                 polled_filesystems: Collection[str] | None = None) -> None:
        super().__init__(pool=pool)
        self._routes: dict[str, tuple[pykka.ActorRef[Any], ...]] = {}
        self._thread = WatchThread(poll_interval=poll_interval, polled_filesystems=polled_filesystems)

    def on_receive(self, message: Any) -> Any:
        match message:
            case Register(entries=entries, directories=directories, replace=replace):
                self._register(entries, directories, replace)
            case UnregisterAll():
                self._routes = {}
                self._thread.update(self._routes)
            case _:
                return super().on_receive(message)
        return None

    def on_stop(self) -> None:
        self._thread.stop()

    def _register(self, entries: tuple[tuple[pykka.ActorRef[Any], tuple[Path, ...]], ...],
                  directories: tuple[tuple[pykka.ActorRef[Any], tuple[Path, ...]], ...], replace: bool) -> None:
        routes = {} if replace else dict(self._routes)
        for suffix, table in (("", entries), (DIRECTORY_SUFFIX, directories)):
            for actor, paths in table:
                for path in paths:
                    key = os.path.normpath(os.path.abspath(os.fspath(path))).rstrip("/") + suffix
                    current = routes.get(key, ())
                    if actor not in current:
                        routes[key] = (*current, actor)
        self._routes = routes
        self._thread.update(routes)


__all__ = ["Register", "Routes", "UnregisterAll", "WatcherActor"]
