"""`EnvironmentWatcher`: tells the policy publisher which environments changed on disk.

The environments dir is a tree (site.p2, templates/, files/, roles/ per environment) whose
files come and go, so it is watched recursively with one watchdog observer, not path by
path as the engine's WatcherActor does for managed resources. Bursts (an editor's
save, a `git pull`, an rsync) are debounced: the rebuild starts `debounce` seconds after
the last event, once per changed environment.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EnvironmentWatcher:
    def __init__(self, root: Path, on_change: Callable[[frozenset[str]], None], *, debounce: float = 0.2) -> None:
        self._root = root
        self._on_change = on_change
        self._debounce = debounce
        self._changed: set[str] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer: Any = None

    def start(self) -> None:
        from watchdog.observers import Observer

        self._root.mkdir(parents=True, exist_ok=True)
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(self, str(self._root), recursive=True)
        self._observer.start()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _environment(self, raw: Any) -> str | None:
        path = os.fsdecode(raw)
        try:
            relative = Path(path).relative_to(self._root)
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

    def dispatch(self, event: Any) -> None:
        """Called by watchdog's thread for every event: record and (re)arm the timer."""
        if event.event_type in ("opened", "closed_no_write"):
            return
        names = {name for raw in (event.src_path, getattr(event, "dest_path", "")) if raw
                 if (name := self._environment(raw)) is not None}
        if not names:
            return
        with self._lock:
            self._changed |= names
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._debounce, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            changed, self._changed = frozenset(self._changed), set()
            self._timer = None
        if changed:
            log.info("environments changed", extra={"environments": sorted(changed)})
            self._on_change(changed)
