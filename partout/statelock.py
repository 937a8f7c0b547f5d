"""One process per state dir: `partout up`, `master`, `agent` and `partout-nats` each hold an
flock on `<state dir>/partout.lock` while they run.

    lock = lock_state_dir(directory, command="partout up")   # StateDirInUse if another holds it
    lock.describe(nats_url="nats://127.0.0.1:4222")           # what a second one is told
    ...
    lock.release()

The kernel drops an flock when its process dies, even by SIGKILL, so a lock is never stale;
the file's content (pid, command, NATS URL) is only what the holder wrote about itself.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from partout.errors import StateError

LOCK_FILE = "partout.lock"


class StateDirInUse(StateError):
    """Another running Partout process holds this state dir. The CLI exits 2 (usage)."""

    exit_code = 2

    def __init__(self, directory: Path, holder: dict[str, Any]) -> None:
        self.directory, self.holder = directory, holder
        who = str(holder.get("command") or "another Partout process")
        details = ", ".join(part for part in (
            f"pid {holder['pid']}" if holder.get("pid") else "",
            f"NATS {holder['nats_url']}" if holder.get("nats_url") else "",
        ) if part)
        super().__init__(f"state dir {directory} is in use by `{who}`" + (f" ({details})" if details else "")
                         + "; stop it first, or give this one another --state-dir")


class StateDirLock:
    """A held lock; `release()` (or process exit) frees it."""

    def __init__(self, directory: Path, descriptor: int, command: str) -> None:
        self.directory = directory
        self._descriptor: int | None = descriptor
        self._info: dict[str, Any] = {"pid": os.getpid(), "command": command}
        self._write()

    def describe(self, **fields: Any) -> None:
        """Add what a second process should be told about this one (e.g. `nats_url`)."""
        self._info.update(fields)
        self._write()

    def _write(self) -> None:
        if self._descriptor is None:
            return
        data = json.dumps(self._info).encode() + b"\n"
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, data, 0)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the last descriptor drops the flock
            self._descriptor = None

    def __enter__(self) -> StateDirLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def read_holder(directory: Path) -> dict[str, Any]:
    """What the holder of `directory`'s lock wrote about itself ({} when unreadable)."""
    try:
        data = json.loads((directory / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_state_dir(directory: Path, *, command: str) -> StateDirLock:
    """Take `directory`'s lock at once (the dir must exist) or raise StateDirInUse."""
    path = directory / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise StateError(f"cannot open {path}: {error.strerror}") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise StateDirInUse(directory, read_holder(directory)) from None
    except OSError as error:
        os.close(descriptor)
        raise StateError(f"cannot lock {path}: {error.strerror}") from error
    return StateDirLock(directory, descriptor, command)


__all__ = ["LOCK_FILE", "StateDirInUse", "StateDirLock", "lock_state_dir", "read_holder"]
