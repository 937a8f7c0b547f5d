"""Low-level file operations that never follow a symlink they did not mean to follow.

Writes are atomic: a temp file in the same directory, created 0600, written, fsynced,
given its final owner and mode, then renamed over the path and the directory fsynced.
So the path never shows partial content nor, for a moment, wrong permissions.

Within a run the directory fsync is deferred (`DirectorySyncs`): each directory a run
renamed into is fsynced once, when the run ends and before it reports success, instead
of once per file. A crash before that may lose a rename, never show a partial file: the
data is fsynced before its rename either way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from partout.errors import ResourceError

# Reading a FIFO or device must not block a run, and a symlink must not be followed.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class PathState(NamedTuple):
    """What a path is now: kind is missing, file, directory, link or other. (A NamedTuple:
    immutable like a frozen dataclass, cheaper to define and to make, once per check.)"""

    kind: str
    mode: int = 0
    uid: int = -1
    gid: int = -1
    size: int = 0
    content: bytes | None = None
    target: str | None = None


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def inspect(path: Path, *, read_content: bool = False) -> PathState:
    """One lstat, plus one read of a regular file's content when asked."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return PathState(kind="missing")
    kind = kind_of(info.st_mode)
    content = None
    target = None
    if kind == "file" and read_content:
        content = read_nofollow(path, info.st_size)
    elif kind == "link":
        target = os.readlink(path)
    return PathState(
        kind=kind, mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid,
        size=info.st_size, content=content, target=target,
    )


def read_nofollow(path: Path, size_hint: int = 0) -> bytes:
    descriptor = os.open(path, _READ_FLAGS)
    try:
        chunks = []
        want = max(size_hint + 1, 4096)
        while True:
            chunk = os.read(descriptor, want)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


_umask: int | None = None


def umask() -> int:
    """The process umask, read without the racy os.umask(0) dance (threads share it)."""
    global _umask
    if _umask is None:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("Umask:"):
                        _umask = int(line.split()[1], 8)
                        break
        except OSError:
            pass
        if _umask is None:
            _umask = 0o022
    return _umask


def default_file_mode() -> int:
    return 0o666 & ~umask()


def default_directory_mode() -> int:
    return 0o777 & ~umask()


def temporary_name(path: Path) -> Path:
    """A fresh hidden name beside path, so a rename onto path stays on one filesystem.
    Stale temp files a killed run left in that directory are swept first."""
    sweep_stale_temporaries(path.parent)
    # NAME_MAX is 255: keep the temp name short whatever the target's name.
    return path.with_name(f".{path.name[:200]}.partout-{os.urandom(4).hex()}")


def create_private(path: Path) -> int:
    """A write descriptor on a new 0600 file; fails when anything, even a link, is there.
    It holds an exclusive flock until closed, which tells the sweeper a writer is alive."""
    descriptor = os.open(path, _CREATE_FLAGS, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def discard(path: Path) -> None:
    """Remove path; one already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def discarded_on_failure(temporary: Path) -> Iterator[None]:
    """Remove `temporary` when the block fails in any way (Ctrl-C too), then re-raise."""
    try:
        yield
    except BaseException:
        discard(temporary)
        raise


class DirectorySyncs:
    """The directories one run renamed files into, fsynced once each by `sync()`."""

    def __init__(self) -> None:
        self._pending: set[Path] = set()
        self._lock = threading.Lock()  # writes come from several worker threads

    def add(self, directory: Path) -> None:
        with self._lock:
            self._pending.add(directory)

    def sync(self) -> None:
        """fsync every pending directory; a ResourceError names those that failed."""
        with self._lock:
            pending, self._pending = self._pending, set()
        failed: list[str] = []
        for directory in sorted(pending):
            try:
                fsync_directory(directory)
            except FileNotFoundError:
                continue  # removed later in the run: no entry of it left to make durable
            except OSError as error:
                failed.append(f"{directory}: {error.strerror or error}")
        if failed:
            raise ResourceError("cannot make the run's renames durable (fsync): " + "; ".join(failed))


def _sync_parent(path: Path, directories: DirectorySyncs | None) -> None:
    if directories is None:
        fsync_directory(path.parent)
    else:
        directories.add(path.parent)


def write_atomically(path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1,
                     directories: DirectorySyncs | None = None) -> None:
    """Replace path (a missing path, a regular file, or a symlink itself) with data. The
    directory is fsynced now, or by `directories` at the end of the run."""
    temporary = temporary_name(path)
    descriptor = create_private(temporary)
    with discarded_on_failure(temporary):
        try:
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
            if uid != -1 or gid != -1:
                os.fchown(descriptor, uid, gid)
            # After chown: chown clears setuid/setgid bits.
            os.fchmod(descriptor, mode)
            os.rename(temporary, path)
        finally:
            os.close(descriptor)  # after the rename: the lock guards the temp file until then
    _sync_parent(path, directories)


def symlink_atomically(target: str, path: Path, *, uid: int = -1, gid: int = -1,
                       directories: DirectorySyncs | None = None) -> None:
    """Point path at target, replacing a file or symlink there in one rename."""
    temporary = temporary_name(path)
    os.symlink(target, temporary)
    with discarded_on_failure(temporary):
        if uid != -1 or gid != -1:
            os.lchown(temporary, uid, gid)
        os.rename(temporary, path)
    _sync_parent(path, directories)


# Temp files of our own naming (see temporary_name). One younger than STALE_AFTER, or
# flocked by its writer, belongs to a write in progress and is never touched.
_TEMPORARY = re.compile(r"^\..+\.partout-[0-9a-f]{8}$")
STALE_AFTER = 60.0
_swept: dict[str, float] = {}
_swept_lock = threading.Lock()


def sweep_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temp files a killed write left in directory (at most once per STALE_AFTER
    per directory and process, so writing many files costs one listing); what was removed."""
    now = time.monotonic()
    with _swept_lock:
        last = _swept.get(str(directory))
        if last is not None and now - last < STALE_AFTER:
            return []
        _swept[str(directory)] = now
    removed = []
    try:
        with os.scandir(directory) as entries:
            candidates = [Path(entry.path) for entry in entries if _TEMPORARY.match(entry.name)]
    except OSError:
        return []  # a missing directory: the write itself reports it
    for candidate in candidates:
        try:
            if _remove_if_stale(candidate):
                removed.append(candidate)
        except OSError:
            continue  # gone meanwhile, or not ours to remove: leave it
    return removed


def _remove_if_stale(path: Path) -> bool:
    info = os.lstat(path)
    if time.time() - info.st_mtime < STALE_AFTER:
        return False
    if stat.S_ISLNK(info.st_mode):  # a temp symlink lives for one rename: an old one is stale
        os.unlink(path)
        return True
    if not stat.S_ISREG(info.st_mode):
        return False
    descriptor = os.open(path, _READ_FLAGS)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        if os.fstat(descriptor).st_ino != info.st_ino:
            return False
        os.unlink(path)
        return True
    finally:
        os.close(descriptor)


def write_error(path: Path, error: OSError, *, creates: bool = True) -> ResourceError:
    """The ResourceError for a failed change of path. A missing parent directory, the usual
    policy mistake, is named with its fix when the change `creates` the path."""
    if creates and isinstance(error, FileNotFoundError) and not path.parent.is_dir():
        return ResourceError(
            f"{path}: parent directory {path.parent} does not exist; declare it first "
            f"with p2.file({str(path.parent)!r}, ensure='directory')"
        )
    return ResourceError(f"{path}: {error.strerror or error}")


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def set_attributes(path: Path, *, mode: int | None, uid: int = -1, gid: int = -1) -> None:
    """chown/chmod through a descriptor opened without following a symlink, so a path
    swapped for a link after check cannot redirect the change."""
    descriptor = os.open(path, _READ_FLAGS)
    try:
        if uid != -1 or gid != -1:
            os.fchown(descriptor, uid, gid)
        if mode is not None:
            os.fchmod(descriptor, mode)
    finally:
        os.close(descriptor)
