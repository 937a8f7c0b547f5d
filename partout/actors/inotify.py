"""The three inotify system calls through ctypes, and the parsing of the event records.

Why not watchdog's observer: it opens one inotify instance and one thread per watched
directory (an emitter each), so 1,000 watched directories cost 1,000 threads and 1,000
instances, past the default `fs.inotify.max_user_instances` of 128. The kernel interface
is three calls and a fixed record layout; one instance carries every watch of the
process, and one thread reads it (`partout.actors.watcher`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

# What a watched directory reports: changes to its entries and to itself. Opens and
# reads are left out: a resource's own check reads its file, and hearing that would
# make it check again forever.
DIRECTORY_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
                  | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
# The watched directory itself went away (or its watch did): re-arm from the path.
GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED

_HEADER = struct.Struct("iIII")


class InotifyError(OSError):
    """An inotify call failed; `errno` says why (ENOSPC: the watch limit is reached)."""


@dataclass(frozen=True)
class InotifyEvent:
    wd: int
    mask: int
    cookie: int
    name: str


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class Inotify:
    """One inotify instance: a non-blocking file descriptor to add watches to and read."""

    def __init__(self) -> None:
        self._libc = _libc()
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise _error("inotify_init1", "")
        self.fd: int = fd

    def add_watch(self, path: str, mask: int = DIRECTORY_MASK) -> int:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask))
        if wd < 0:
            raise _error("inotify_add_watch", path)
        return int(wd)

    def remove_watch(self, wd: int) -> None:
        # EINVAL: the kernel already dropped it (directory deleted); nothing to free.
        self._libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[InotifyEvent]:
        """Every event queued now (the descriptor is non-blocking: [] when none)."""
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return []
        return list(parse(data))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def parse(data: bytes) -> Iterator[InotifyEvent]:
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        raw = data[offset:offset + length].split(b"\0", 1)[0]
        offset += length
        yield InotifyEvent(wd, mask, cookie, os.fsdecode(raw))


def _error(call: str, path: str) -> InotifyError:
    code = ctypes.get_errno()
    return InotifyError(code, f"{call}: {os.strerror(code)}", path or None)


def limit_reached(error: OSError) -> bool:
    return error.errno == errno.ENOSPC
