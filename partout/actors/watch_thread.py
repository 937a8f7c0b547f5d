"""The one thread that reads the process's inotify instance and tells resource actors.

inotify watches directories, and replacing or deleting a file shows as an event on its
parent, so each managed path's directory (its "target") is watched, not the file.
Never losing a path:
- a target that does not exist (yet) is anchored at its nearest existing ancestor,
  watched for entries; when the missing component appears the watch moves down;
- every ancestor of an anchor is watched for its own move or deletion only (no entry
  events, so watching /tmp's ancestors costs nothing while /tmp is busy): an inotify
  watch follows its inode, so after `mv /srv/app /old` a watch on /srv/app would
  silently report /old/app. On such an event the moved subtree's watches are dropped
  and re-armed from the paths, and the paths under it are re-checked;
- the inotify queue overflowing re-arms everything and re-checks every path.
Paths whose directory is on a filesystem where inotify hears only local writes, or
that cannot be watched (watch limit reached), are polled by stat signature instead.
A route key ending in "/" is a directory whose every entry matters (a virtualenv's
site-packages): the directory itself is the target then.
Events are folded per read: a burst of writes to one file tells its actors once.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import pykka
from pykka import ActorDeadError

from partout.actors import inotify
from partout.actors.messages import PathChanged

log = logging.getLogger(__name__)

Routes = Mapping[str, tuple[pykka.ActorRef[Any], ...]]
Signature = tuple[int, ...] | None

POLL_INTERVAL = 1.0
DIRECTORY_SUFFIX = "/"
SELF_MASK = inotify.IN_MOVE_SELF | inotify.IN_DELETE_SELF | inotify.IN_ONLYDIR
ENTRY_EVENTS = inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_DELETE | inotify.IN_MOVED_FROM
# Filesystems whose changes made on another machine never reach local inotify.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "davfs", "gpfs",
})


class WatchThread:
    """Owns the inotify descriptor and the watch table; `update` and `stop` are the only
    calls other threads make, and they only hand over a value and wake it."""

    def __init__(self, *, poll_interval: float = POLL_INTERVAL,
                 polled_filesystems: Collection[str] | None = None) -> None:
        self.poll_interval = poll_interval
        self._polled_types = frozenset(polled_filesystems if polled_filesystems is not None else NETWORK_FILESYSTEMS)
        self._lock = threading.Lock()
        self._pending: tuple[Routes, threading.Event] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._inotify: inotify.Inotify | None = None
        self._routes: Routes = {}
        self._targets: dict[str, list[str]] = {}      # directory -> managed paths in it
        self._interesting: set[str] = set()           # targets and their ancestors
        self._watches: dict[str, tuple[int, int]] = {}  # directory -> (wd, mask)
        self._by_wd: dict[int, set[str]] = {}
        self._polled: dict[str, Signature] = {}       # managed path -> last stat signature
        self._next_poll = 0.0
        self._limit_reported = False

    # -- other threads ----------------------------------------------------------------

    def update(self, routes: Routes, timeout: float = 30.0) -> None:
        """Hand over a new routing table; returns once its watches are armed, so that
        drift right after `Engine.watch` returns is heard."""
        armed = threading.Event()
        with self._lock:
            if self._pending is not None:
                self._pending[1].set()  # superseded: its caller need not wait any more
            self._pending = (routes, armed)
            if self._thread is None:
                self._wake = os.pipe()
                self._thread = threading.Thread(target=self._serve, name="partout-watcher", daemon=True)
                self._thread.start()
            self._poke()
        armed.wait(timeout)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
            self._poke()
        if thread is not None:
            thread.join(timeout=5)

    def _poke(self) -> None:
        if self._wake is not None:
            os.write(self._wake[1], b"x")

    # -- the thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._wake is not None
        wake = self._wake[0]
        try:
            try:
                self._inotify = inotify.Inotify()
            except OSError as error:
                log.error("cannot create an inotify instance (fs.inotify.max_user_instances reached?); "
                          "polling every watched path", extra={"error": str(error)})
            while True:
                descriptors = [wake] + ([self._inotify.fd] if self._inotify is not None else [])
                timeout = max(0.0, self._next_poll - time.monotonic()) if self._polled else None
                readable, _, _ = select.select(descriptors, [], [], timeout)
                if wake in readable:
                    os.read(wake, 4096)
                    with self._lock:
                        if self._stopping:
                            return
                        pending, self._pending = self._pending, None
                    if pending is not None:
                        self._install(pending[0])
                        pending[1].set()
                if self._inotify is not None and self._inotify.fd in readable:
                    self._handle(self._inotify.read())
                if self._polled and time.monotonic() >= self._next_poll:
                    self._poll()
        except Exception:
            log.exception("the watcher thread failed; drift is no longer heard")
        finally:
            if self._inotify is not None:
                self._inotify.close()  # frees every watch of the instance at once
            for descriptor in self._wake:
                os.close(descriptor)
            self._wake = None

    def _install(self, routes: Routes) -> None:
        self._routes = routes
        targets: dict[str, list[str]] = {}
        for path in routes:
            if path.endswith(DIRECTORY_SUFFIX) and path != DIRECTORY_SUFFIX:
                targets.setdefault(path.rstrip(DIRECTORY_SUFFIX), []).append(path)
            else:
                targets.setdefault(os.path.dirname(path) or "/", []).append(path)
        self._targets = targets
        self._interesting = {ancestor for target in targets for ancestor in _lineage(target)}
        self._polled = {path: signature for path, signature in self._polled.items() if path in routes}
        self._arm()

    def _arm(self) -> None:
        """Make the watch table match the targets: watch each target's anchor for entries
        and the anchor's ancestors for their own moves; poll what cannot be watched."""
        mounts = _mounts()
        desired: dict[str, int] = {}
        for target in sorted(self._targets):
            if all(path in self._polled for path in self._targets[target]):
                continue
            if self._inotify is None or self._on_polled_filesystem(target, mounts):
                self._poll_instead(target)
                continue
            if not self._arm_target(target, desired):
                self._poll_instead(target)
        for directory in [directory for directory in self._watches if directory not in desired]:
            self._unwatch(directory)

    def _arm_target(self, target: str, desired: dict[str, int]) -> bool:
        for _ in range(8):  # the tree may change under us; each pass re-reads it
            anchor = _nearest_existing(target)
            wanted = [(anchor, inotify.DIRECTORY_MASK)]
            wanted += [(ancestor, SELF_MASK) for ancestor in _lineage(anchor)[1:] if ancestor != "/"]
            try:
                for directory, mask in wanted:
                    mask |= desired.get(directory, 0)
                    self._watch(directory, mask)
                    desired[directory] = mask
            except FileNotFoundError:
                continue
            except OSError as error:
                self._report_watch_failure(target, error)
                return False
            if _nearest_existing(target) == anchor:
                return True
        return True  # still moving: the watches in place report where it settles

    def _watch(self, directory: str, mask: int) -> None:
        assert self._inotify is not None
        current = self._watches.get(directory)
        if current is not None and current[1] == mask:
            return
        wd = self._inotify.add_watch(directory, mask)
        if current is not None and current[0] != wd:
            self._by_wd.get(current[0], set()).discard(directory)
        self._watches[directory] = (wd, mask)
        self._by_wd.setdefault(wd, set()).add(directory)

    def _unwatch(self, directory: str) -> None:
        wd, _ = self._watches.pop(directory)
        sharing = self._by_wd.get(wd, set())
        sharing.discard(directory)
        if not sharing:
            self._by_wd.pop(wd, None)
            if self._inotify is not None:
                self._inotify.remove_watch(wd)

    def _handle(self, events: Iterable[inotify.InotifyEvent]) -> None:
        changed: set[str] = set()
        moved: set[str] = set()
        rearm = False
        for event in events:
            if event.mask & inotify.IN_Q_OVERFLOW:
                log.warning("inotify queue overflowed; re-checking every watched path")
                moved.add("/")
                rearm = True
                continue
            directories = tuple(self._by_wd.get(event.wd, ()))
            if event.mask & inotify.GONE:
                # The directory itself moved or went away: its watch (and those under it)
                # now follow an inode that is elsewhere, or nothing.
                for directory in directories:
                    self._drop_tree(directory)
                moved.update(directories)
                rearm = True
                continue
            for directory in directories:
                path = os.path.join(directory, event.name) if event.name else directory
                if path in self._routes:
                    changed.add(path)
                if event.name and directory + DIRECTORY_SUFFIX in self._routes:
                    changed.add(directory + DIRECTORY_SUFFIX)
                if event.mask & ENTRY_EVENTS and path in self._interesting:
                    moved.add(path)
                    rearm = True
        if rearm:
            self._arm()
            for target, paths in self._targets.items():
                if any(target == gone or target.startswith(gone.rstrip("/") + "/") for gone in moved):
                    changed.update(paths)
        self._tell(changed)

    def _drop_tree(self, directory: str) -> None:
        prefix = directory.rstrip("/") + "/"
        for watched in [watched for watched in self._watches if watched == directory or watched.startswith(prefix)]:
            self._unwatch(watched)

    def _tell(self, paths: Iterable[str]) -> None:
        for path in paths:
            for actor in self._routes.get(path, ()):
                try:
                    actor.tell(PathChanged(Path(path.rstrip(DIRECTORY_SUFFIX) or "/")))
                except ActorDeadError:
                    continue

    # -- polling ------------------------------------------------------------------------

    def _on_polled_filesystem(self, target: str, mounts: list[tuple[str, str]]) -> bool:
        kind = _filesystem_of(_nearest_existing(target), mounts)
        if kind in self._polled_types or kind.startswith("fuse."):
            if not all(path in self._polled for path in self._targets[target]):
                log.warning("inotify does not see every change on this filesystem; polling",
                            extra={"directory": target, "filesystem": kind, "interval": self.poll_interval})
            return True
        return False

    def _report_watch_failure(self, target: str, error: OSError) -> None:
        if inotify.limit_reached(error):
            if not self._limit_reported:
                log.error("inotify watch limit reached: raise the sysctl fs.inotify.max_user_watches; "
                          "polling the paths that could not be watched",
                          extra={"directory": target, "interval": self.poll_interval})
                self._limit_reported = True
            return
        log.warning("cannot watch directory; polling", extra={"directory": target, "error": str(error)})

    def _poll_instead(self, target: str) -> None:
        for path in self._targets[target]:
            if path not in self._polled:
                self._polled[path] = _signature(path)
        self._next_poll = min(self._next_poll or time.monotonic() + self.poll_interval,
                              time.monotonic() + self.poll_interval)

    def _poll(self) -> None:
        changed = []
        for path, before in self._polled.items():
            now = _signature(path)
            if now != before:
                self._polled[path] = now
                changed.append(path)
        self._next_poll = time.monotonic() + self.poll_interval
        self._tell(changed)


def _lineage(directory: str) -> list[str]:
    """directory and every ancestor up to /."""
    found = [directory]
    while directory not in ("/", ""):
        directory = os.path.dirname(directory)
        found.append(directory or "/")
    return found


def _nearest_existing(directory: str) -> str:
    while not os.path.isdir(directory) and directory not in ("/", ""):
        directory = os.path.dirname(directory)
    return directory or "/"


def _signature(path: str) -> Signature:
    try:
        status = os.lstat(path.rstrip(DIRECTORY_SUFFIX) or "/")
    except OSError:
        return None
    return (status.st_ino, status.st_mode, status.st_uid, status.st_gid, status.st_size,
            status.st_mtime_ns, status.st_ctime_ns)


def _mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type), longest mount point first."""
    found: list[tuple[str, str]] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                before, _, after = line.partition(" - ")
                fields = before.split()
                if len(fields) >= 5 and after:
                    point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
                    found.append((point, after.split()[0]))
    except OSError:
        return []
    return sorted(found, key=lambda mount: len(mount[0]), reverse=True)


def _filesystem_of(directory: str, mounts: list[tuple[str, str]]) -> str:
    for point, kind in mounts:
        if directory == point or directory.startswith(point.rstrip("/") + "/") or point == "/":
            return kind
    return ""
