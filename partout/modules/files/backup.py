"""The content-addressed store of file contents Partout replaced or removed.

Blobs live under `<state_dir>/backups/objects/ab/cdef...` (sha256 of the content), so the
same content is stored once however often it is backed up. An append-only JSON-lines
index records each backup: time, path, sha256, size and mode. Everything is 0600 / 0700:
backups may contain secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from partout.errors import StateError
from partout.state import ensure_state_dir

_lock = threading.Lock()


class BackupEntry(BaseModel):
    """One backup: which file had which content when."""

    model_config = ConfigDict(frozen=True)

    time: float = Field(description="Unix time of the backup.")
    path: str = Field(description="Absolute path the content was at.")
    sha256: str = Field(description="sha256 of the content: the blob's name.")
    size: int = Field(description="Content size in bytes.")
    mode: int = Field(description="Permission bits the file had, e.g. 0o644.")


class BackupStore:
    """`BackupStore(state_dir)`: save, list, read and restore replaced contents."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / "backups"
        self.objects = self.root / "objects"
        self.index = self.root / "index.jsonl"

    def _prepare(self) -> None:
        ensure_state_dir(self.state_dir)
        for directory in (self.root, self.objects):
            directory.mkdir(mode=0o700, exist_ok=True)

    def _blob(self, sha: str) -> Path:
        return self.objects / sha[:2] / sha[2:]

    def save(self, path: Path, content: bytes, mode: int) -> str:
        """Store content (once per distinct content) and record it for path; the sha256."""
        sha = hashlib.sha256(content).hexdigest()
        entry = BackupEntry(
            time=time.time(), path=str(path), sha256=sha, size=len(content), mode=stat.S_IMODE(mode)
        )
        try:
            self._prepare()
            blob = self._blob(sha)
            if not blob.exists():
                blob.parent.mkdir(mode=0o700, exist_ok=True)
                _write_private(blob, content)
            line = (entry.model_dump_json() + "\n").encode()
            with _lock:
                descriptor = os.open(
                    self.index, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
                )
                try:
                    os.write(descriptor, line)
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        except OSError as exc:
            raise StateError(f"cannot back up {path} into {self.root}: {exc.strerror or exc}") from exc
        return sha

    def save_tree(self, directory: Path) -> int:
        """Back up every regular file under directory (symlinks are not followed, other
        entries hold no content); the number of files saved."""
        from partout.modules.files.fileops import read_nofollow

        saved = 0
        try:
            for parent, _, files in os.walk(directory, followlinks=False):
                for name in files:
                    path = Path(parent) / name
                    info = os.lstat(path)
                    if stat.S_ISREG(info.st_mode):
                        self.save(path, read_nofollow(path, info.st_size), info.st_mode)
                        saved += 1
        except OSError as exc:
            raise StateError(f"cannot back up the files under {directory}: {exc.strerror or exc}") from exc
        return saved

    def entries(self, path: Path | None = None) -> list[BackupEntry]:
        """Backups, oldest first; only those of path (or of files under it) when given."""
        try:
            text = self.index.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(f"cannot read backup index {self.index}: {exc.strerror}") from exc
        wanted = str(path) if path is not None else None
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = BackupEntry.model_validate(json.loads(line))
            except ValueError as exc:
                raise StateError(f"{self.index}:{number}: malformed backup entry: {exc}") from exc
            if wanted is None or entry.path == wanted or entry.path.startswith(wanted.rstrip("/") + "/"):
                found.append(entry)
        return found

    def find(self, sha: str) -> BackupEntry:
        """The latest entry whose sha256 starts with sha (a unique prefix is enough)."""
        sha = sha.lower()
        if len(sha) < 4:
            raise StateError(f"backup id {sha!r} is too short; give at least 4 hex digits")
        matches = [entry for entry in self.entries() if entry.sha256.startswith(sha)]
        if not matches:
            raise StateError(f"no backup {sha!r} in {self.root}; see `partout backups list`")
        if len({entry.sha256 for entry in matches}) > 1:
            raise StateError(f"backup id {sha!r} is ambiguous; give more digits")
        return matches[-1]

    def read(self, sha: str) -> bytes:
        entry = self.find(sha)
        try:
            content = self._blob(entry.sha256).read_bytes()
        except OSError as exc:
            raise StateError(f"backup blob {entry.sha256} is missing or unreadable: {exc.strerror}") from exc
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            raise StateError(f"backup blob {entry.sha256} is corrupt (its sha256 does not match)")
        return content

    def restore(self, entry_or_sha: BackupEntry | str, path: Path | None = None) -> Path:
        """Write a backup back (atomically, with its recorded mode) to its path or to `path`.
        The content being replaced is itself backed up first, so a restore can be undone."""
        from partout.modules.files.fileops import inspect, write_atomically

        entry = self.find(entry_or_sha) if isinstance(entry_or_sha, str) else entry_or_sha
        content = self.read(entry.sha256)
        destination = Path(path) if path is not None else Path(entry.path)
        current = inspect(destination, read_content=True)
        if current.kind not in ("missing", "file"):
            raise StateError(f"cannot restore to {destination}: it is a {current.kind}, not a file")
        if current.kind == "file" and current.content is not None and current.content != content:
            self.save(destination, current.content, current.mode)
        try:
            # A file of a removed directory tree goes back into a fresh copy of its directory.
            destination.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(
                destination, content, mode=entry.mode,
                uid=current.uid if current.kind == "file" else -1,
                gid=current.gid if current.kind == "file" else -1,
            )
        except OSError as exc:
            raise StateError(f"cannot restore {destination}: {exc.strerror or exc}") from exc
        return destination


def _write_private(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
