"""The state directory: backups, keys, spool, caches. Created 0700; refused when unsafe."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from partout.errors import StateError


def default_state_dir() -> Path:
    """/var/lib/partout for root, else $XDG_STATE_HOME/partout (~/.local/state/partout)."""
    if env := os.environ.get("PARTOUT_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/partout")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "partout"


def ensure_state_dir(path: Path, *, private: bool = False) -> Path:
    """Create the state dir (0700) if needed and check that we can use it.

    A state dir others can write to is refused: it holds backups and keys, and a
    writable one would let another user plant content that root later restores.
    `private` (the agent's, which holds its key and the policies it runs as root) also
    refuses any group or other access, 0755 included."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as exc:
        raise StateError(f"state dir {path}: {exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"state dir {path} is not a directory")
    if info.st_mode & 0o022:
        raise StateError(
            f"state dir {path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 700 {path}"
        )
    if private and info.st_mode & 0o077:
        raise StateError(
            f"state dir {path} is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}); it holds "
            f"this agent's key and must be 0700: run: chmod 700 {path}"
        )
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise StateError(f"state dir {path} is not readable and writable by this user")
    return path


def write_secret(path: Path, data: bytes) -> None:
    """Write a key or credential file atomically with mode 0600 from the start."""
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def read_secret(path: Path) -> bytes:
    """Read a key file, refusing one that group or others can read."""
    try:
        info = path.stat()
    except OSError as exc:
        raise StateError(f"key file {path}: {exc.strerror}") from exc
    if info.st_mode & 0o077:
        raise StateError(
            f"key file {path} has mode {stat.S_IMODE(info.st_mode):04o}; it must be 0600 "
            f"(run: chmod 600 {path})"
        )
    return path.read_bytes()
