"""The agent's offline spool: what it could not hand to NATS, on disk, in order.

    spool = Spool(state_dir / "spool.db", max_bytes=64 << 20)
    spool.put_batch(subjects.agent_events(agent_id), batch)   # committed before it returns
    for message in spool.peek(8):                            # oldest first
        publish(message.subject, message.payload, message_id=message.message_id)
        spool.ack(message.message_id)                        # after the server's ack

One SQLite file with synchronous=FULL and a rollback journal: a put is one transaction,
on disk when it returns, so a killed agent loses nothing it was told was spooled.

At the bound (`max_bytes` of subjects, ids and payloads), room is made by folding the
oldest event batches into coarser ones: two or more merge into one batch that covers all
their periods at a lower level (down to per-agent counts). Counts are never dropped.
Reports are never folded or dropped: a report that does not fit once there is nothing
left to fold raises SpoolFull and is not spooled (the caller keeps it or reports the
loss); an event batch that does not fit is folded into the spool's newest foldable batch,
or spooled at level 1 past the bound (a few hundred bytes) when there is none.

A message handed out by `peek` may already be stored by the server (its ack lost), so it
is marked as attempted on disk and never folded: only its own message id, which JetStream
deduplicates, may carry its counts. When the disk (or `max_file_bytes`) is full the spool
stops growing with one log line and gives back a reserve file (`<spool>.reserve`) so that
draining still has room to delete; growth resumes when the disk has room again. Event
counts that cannot be written meanwhile are merged into one batch in memory (constant
size) and written, or handed out by `peek`, as soon as possible.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from partout.errors import StateError
from partout.events.counts import merge_batches
from partout.events.wire import EventBatch, Level, parse_batch
from partout.wire import encode

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_RESERVE_BYTES = 1024 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outgoing (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL,
    attempted INTEGER NOT NULL DEFAULT 0
)
"""


class MessageKind(StrEnum):
    EVENTS = "events"
    REPORT = "report"


class SpoolFull(StateError):
    """A message could not be spooled: the bound is reached and nothing is left to fold,
    or the disk is full."""


@dataclass(frozen=True)
class SpooledMessage:
    sequence: int
    message_id: str
    kind: MessageKind
    subject: str
    payload: bytes


def _size(subject: str, message_id: str, payload: bytes) -> int:
    return len(subject) + len(message_id) + len(payload)


def _is_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def open_private_database(path: Path) -> sqlite3.Connection:
    """An agent's own SQLite file, 0600 from its creation (reports and event titles may name
    secrets' paths), every commit on disk before it returns; raises OSError or sqlite3.Error."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    database = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # A rollback journal, not WAL: on a full disk a WAL holds the data and its checkpoint
    # needs as much room again, so nothing could ever be deleted.
    database.execute("PRAGMA journal_mode=DELETE")
    database.execute("PRAGMA synchronous=FULL")
    return database


class Spool:
    """Owned by one actor at a time (SQLite connections are not for concurrent use)."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_file_bytes: int | None = None,
                 reserve_bytes: int = DEFAULT_RESERVE_BYTES) -> None:
        if max_bytes < 4096:
            raise ValueError(f"Spool max_bytes={max_bytes}: give at least 4096")
        self.path = path
        self.max_bytes = max_bytes
        self._reserve = path.with_name(path.name + ".reserve")
        self._reserve_bytes = reserve_bytes
        try:
            self._db = open_private_database(path)
            if max_file_bytes is not None:
                page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
                self._db.execute(f"PRAGMA max_page_count={max(2, max_file_bytes // page_size)}")
            # freed pages go back to the filesystem on request (incremental_vacuum after a
            # drain), so that a drained spool on a full disk leaves room to grow again
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.execute(_SCHEMA)
            self._used = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outgoing").fetchone()[0])
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"{path}: cannot open the spool: {exc}") from exc
        self._overflow: list[tuple[str, EventBatch]] = []  # (subject, batch) the disk had no room for
        self._handed: set[str] = set()  # handed out by peek in this process: never folded
        self._unforgotten: set[str] = set()  # acked, but the delete did not reach the disk yet
        self._full = False
        self._restore_reserve()

    # -- putting

    def put_batch(self, subject: str, batch: EventBatch) -> None:
        """Spool an event batch (message id = batch id); its counts are kept whatever happens."""
        self._retry_overflow()
        if self._overflow:
            self._keep_in_memory(subject, batch)
            return
        payload = encode(batch)
        self._make_room(_size(subject, batch.batch_id, payload))
        if self._used + _size(subject, batch.batch_id, payload) > self.max_bytes:
            if self._fold_into_newest(batch):
                return
            batch = _merge([batch], Level.AGENT, keep_id=True)  # the count slack
            payload = encode(batch)
        if not self._insert(MessageKind.EVENTS, subject, batch.batch_id, payload):
            self._keep_in_memory(subject, batch)

    def put_report(self, subject: str, message_id: str, payload: bytes) -> None:
        """Spool a run report, or raise SpoolFull: reports are never folded."""
        size = _size(subject, message_id, payload)
        self._make_room(size)
        if self._used + size > self.max_bytes:
            raise SpoolFull(f"{self.path}: the spool holds {self._used} of {self.max_bytes} bytes and nothing more "
                            f"can be folded; report {message_id} ({len(payload)} bytes) is not spooled")
        if not self._insert(MessageKind.REPORT, subject, message_id, payload):
            raise SpoolFull(f"{self.path}: the disk is full; report {message_id} is not spooled")

    # -- draining

    def peek(self, limit: int = 1) -> list[SpooledMessage]:
        """The oldest `limit` messages, marked as attempted (never folded from now on)."""
        self._retry_overflow()
        self._retry_forget()
        rows = self._db.execute(
            "SELECT sequence, message_id, kind, subject, payload FROM outgoing ORDER BY sequence LIMIT ?",
            (limit + len(self._unforgotten),)).fetchall()
        messages = [SpooledMessage(row[0], row[1], MessageKind(row[2]), row[3], bytes(row[4]))
                    for row in rows if row[1] not in self._unforgotten][:limit]
        for subject, batch in self._overflow[:limit - len(messages)]:
            messages.append(SpooledMessage(0, batch.batch_id, MessageKind.EVENTS, subject, encode(batch)))
        self._handed.update(message.message_id for message in messages)
        on_disk = [(message.sequence,) for message in messages if message.sequence]
        try:  # so that a restarted agent does not fold what it may have published already
            self._db.executemany("UPDATE outgoing SET attempted = 1 WHERE sequence = ?", on_disk)
        except sqlite3.Error as exc:
            self._note_full(exc)
        return messages

    def ack(self, message_id: str) -> None:
        """The server stored the message: forget it."""
        self._handed.discard(message_id)
        kept = [(subject, batch) for subject, batch in self._overflow if batch.batch_id != message_id]
        if len(kept) != len(self._overflow):
            self._overflow = kept
            return
        self._unforgotten.add(message_id)
        self._retry_forget()

    def __len__(self) -> int:
        rows = int(self._db.execute("SELECT COUNT(*) FROM outgoing").fetchone()[0])
        return rows - len(self._unforgotten) + len(self._overflow)

    @property
    def used_bytes(self) -> int:
        return self._used

    def event_count(self) -> int:
        """Events held, in batches on disk and in memory (what the spool owes the master)."""
        total = sum(batch.count for _, batch in self._overflow)
        for message_id, payload in self._db.execute("SELECT message_id, payload FROM outgoing WHERE kind = ?",
                                                    (MessageKind.EVENTS,)):
            if message_id not in self._unforgotten:
                total += parse_batch(bytes(payload)).count
        return total

    def close(self) -> None:
        self._db.close()

    # -- inside

    def _insert(self, kind: MessageKind, subject: str, message_id: str, payload: bytes) -> bool:
        size = _size(subject, message_id, payload)
        if self._full and not self._restore_reserve():
            return False  # growth stays stopped until the disk has room again
        try:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO outgoing (message_id, kind, subject, payload, size) VALUES (?, ?, ?, ?, ?)",
                (message_id, kind.value, subject, payload, size)).rowcount
        except sqlite3.Error as exc:
            self._note_full(exc)
            return False
        self._used += size if inserted else 0
        self._full = False
        return True

    def _restore_reserve(self) -> bool:
        """Keep `reserve_bytes` of the disk in a file of our own: given back when the disk
        fills, so that draining (deletes, journals) still works; taken again only when the
        disk has twice that free. True when the reserve is in place."""
        if self._reserve.exists() or self._reserve_bytes == 0:
            return True
        try:
            disk = os.statvfs(self._reserve.parent)
            if disk.f_bavail * disk.f_frsize < 2 * self._reserve_bytes:
                return False
            with open(self._reserve, "wb") as reserve:
                reserve.write(bytes(self._reserve_bytes))
                reserve.flush()
                os.fsync(reserve.fileno())
        except OSError:
            self._reserve.unlink(missing_ok=True)
            return False
        return True

    def _note_full(self, error: sqlite3.Error) -> None:
        if not _is_full(error):
            raise StateError(f"{self.path}: spool write failed: {error}") from error
        if not self._full:  # one line per episode: a full disk must not also flood the log
            log.error("spool full: the disk has no room, the spool stops growing until messages drain",
                      extra={"path": str(self.path), "used_bytes": self._used, "error": str(error)})
        self._full = True
        self._reserve.unlink(missing_ok=True)

    def _keep_in_memory(self, subject: str, batch: EventBatch) -> None:
        """Counts the disk had no room for: merged into the newest batch in memory not yet
        handed out, so memory stays at a batch or two however long the disk stays full."""
        if self._overflow and self._overflow[-1][1].batch_id not in self._handed:
            last_subject, last = self._overflow.pop()
            self._overflow.append((last_subject, _merge([last, batch], Level.AGENT)))
        else:
            self._overflow.append((subject, _merge([batch], Level.AGENT, keep_id=True)))

    def _retry_overflow(self) -> None:
        while self._overflow and self._overflow[0][1].batch_id not in self._handed:
            subject, batch = self._overflow[0]
            if not (self._fold_into_newest(batch) or self._insert(MessageKind.EVENTS, subject, batch.batch_id,
                                                                 encode(batch))):
                return
            self._overflow.pop(0)

    def _retry_forget(self) -> None:
        for message_id in sorted(self._unforgotten):
            try:
                row = self._db.execute("SELECT size FROM outgoing WHERE message_id = ?", (message_id,)).fetchone()
                self._db.execute("DELETE FROM outgoing WHERE message_id = ?", (message_id,))
            except sqlite3.Error as exc:
                self._note_full(exc)
                return
            self._unforgotten.discard(message_id)
            self._used -= int(row[0]) if row is not None else 0
        if self._full:
            try:
                self._db.execute("PRAGMA incremental_vacuum").fetchall()
            except sqlite3.Error as exc:
                self._note_full(exc)

    def _foldable(self) -> list[tuple[int, str, int, bytes]]:
        rows: list[tuple[int, str, int, bytes]] = self._db.execute(
            "SELECT sequence, message_id, size, payload FROM outgoing WHERE kind = ? AND attempted = 0 "
            "ORDER BY sequence", (MessageKind.EVENTS,)).fetchall()
        return [row for row in rows if row[1] not in self._handed and row[1] not in self._unforgotten]

    def _make_room(self, size: int) -> None:
        """Fold the oldest foldable batches until `size` more bytes fit or nothing folds."""
        while self._used + size > self.max_bytes:
            rows = self._foldable()
            need = self._used + size - self.max_bytes
            group: list[tuple[int, str, int, bytes]] = []
            for row in rows:
                group.append(row)
                if len(group) >= 2 and sum(r[2] for r in group) > need:
                    break
            batches = [parse_batch(bytes(row[3])) for row in group]
            if not batches or (len(batches) == 1 and batches[0].level <= Level.AGENT):
                return
            level = Level(max(Level.AGENT, min(b.level for b in batches) - 1))
            if not self._replace(group, _merge(batches, level, keep_id=len(batches) == 1)):
                return

    def _fold_into_newest(self, batch: EventBatch) -> bool:
        rows = self._foldable()
        if not rows:
            return False
        newest = rows[-1]
        merged = _merge([parse_batch(bytes(newest[3])), batch], Level.AGENT)
        return self._replace([newest], merged)

    def _replace(self, rows: list[tuple[int, str, int, bytes]], merged: EventBatch) -> bool:
        """Put `merged` where the oldest of `rows` was and delete the others, atomically."""
        payload = encode(merged)
        subject = self._db.execute("SELECT subject FROM outgoing WHERE sequence = ?", (rows[0][0],)).fetchone()[0]
        size = _size(subject, merged.batch_id, payload)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outgoing WHERE sequence = ?", [(row[0],) for row in rows[1:]])
            self._db.execute("UPDATE outgoing SET message_id = ?, payload = ?, size = ? WHERE sequence = ?",
                             (merged.batch_id, payload, size, rows[0][0]))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._note_full(exc)
            return False
        self._used += size - sum(row[2] for row in rows)
        return True


def _merge(batches: list[EventBatch], level: Level, *, keep_id: bool = False) -> EventBatch:
    """The batches as one, with a new id derived from theirs (none of them was handed out,
    so no server holds any of those ids) or, for one batch coarsened alone, its own."""
    if keep_id:
        batch_id = batches[0].batch_id
    else:
        batch_id = "f" + hashlib.sha256("\n".join(b.batch_id for b in batches).encode()).hexdigest()[:39]
    return merge_batches(batches, batch_id=batch_id, level=level, sent_at=batches[-1].sent_at)


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_RESERVE_BYTES", "MessageKind", "Spool", "SpoolFull", "SpooledMessage",
           "open_private_database"]
