"""Event counts not yet in a batch, on disk: what a `kill -9` of the agent would otherwise
lose (up to a period P, at level 0 up to an alive period).

    pending = PendingLog(state_dir / "events-pending.db")
    pending.put(delta)                  # the counts of one report; committed when it returns
    pending.forget(batch.batch_id)      # once that batch is in the spool
    for batch in pending.recover():     # at the next start: one batch per period cut short
        spool.put_batch(subject, batch); pending.forget(batch.batch_id)

Each delta is an `EventBatch` whose id is that of the batch its period will become (the
aggregator draws it when the period opens), so a period's deltas recovered after a kill
go out under the very id the batch would have had: should that batch have reached the
spool too (a kill between the spool's commit and `forget`), the spool, JetStream and the
master's store all take the id once.

Costs one small committed insert per report (beside the spool's own for the report);
the rows of one period are merged into one every COMPACT_EVERY puts, so a long period
(level 0: a day) holds a few rows, not one per report.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from partout.errors import StateError
from partout.events.counts import merge_batches
from partout.events.spool import open_private_database
from partout.events.wire import BatchRejected, EventBatch, Level, parse_batch
from partout.wire import encode

log = logging.getLogger(__name__)

COMPACT_EVERY = 64
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL,
    payload BLOB NOT NULL
)
"""


class PendingLog:
    """Owned by one actor at a time (the outbox), like the spool."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing = False
        try:
            self._db = open_private_database(path)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"{path}: cannot open the pending event counts: {exc}") from exc

    def put(self, delta: EventBatch) -> None:
        """Keep the counts of `delta` until its batch id is forgotten. A write the disk
        refuses is logged (once per episode): those counts are then only in memory."""
        try:
            self._db.execute("INSERT INTO pending (batch_id, payload) VALUES (?, ?)", (delta.batch_id, encode(delta)))
            rows = int(self._db.execute("SELECT COUNT(*) FROM pending WHERE batch_id = ?",
                                        (delta.batch_id,)).fetchone()[0])
            if rows >= COMPACT_EVERY:
                self._compact(delta.batch_id)
        except sqlite3.Error as exc:
            self._note_failure("pending event counts not written (kept in memory only)", exc)
            return
        if self._failing:
            log.info("pending event counts are written again", extra={"path": str(self.path)})
            self._failing = False

    def forget(self, batch_id: str) -> None:
        """The batch is in the spool: its deltas are no longer needed."""
        try:
            self._db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))
        except sqlite3.Error as exc:  # kept: recovered once under the same id, which is taken once
            self._note_failure("pending event counts not forgotten (sent again under the same id)", exc)

    def recover(self) -> list[EventBatch]:
        """The counts left by a process that stopped before their periods ended, one batch
        per period (under its own id), oldest first; each is kept until forgotten."""
        return [self._merged(batch_id, deltas) for batch_id, deltas in self._by_batch() if deltas]

    def event_count(self) -> int:
        return sum(delta.count for _, deltas in self._by_batch() for delta in deltas)

    def close(self) -> None:
        self._db.close()

    # -- inside

    def _by_batch(self) -> Iterator[tuple[str, list[EventBatch]]]:
        ids = [row[0] for row in self._db.execute("SELECT batch_id FROM pending GROUP BY batch_id "
                                                  "ORDER BY MIN(sequence)").fetchall()]
        for batch_id in ids:
            yield batch_id, self._deltas(batch_id)

    def _deltas(self, batch_id: str) -> list[EventBatch]:
        deltas = []
        for sequence, payload in self._db.execute("SELECT sequence, payload FROM pending WHERE batch_id = ? "
                                                  "ORDER BY sequence", (batch_id,)).fetchall():
            try:
                deltas.append(parse_batch(bytes(payload)))
            except BatchRejected as rejected:  # not ours to fix: say so, and go on with the others
                log.error("unreadable pending event counts skipped",
                          extra={"path": str(self.path), "row": sequence, "reason": rejected.reason[:200]})
        return deltas

    @staticmethod
    def _merged(batch_id: str, deltas: list[EventBatch]) -> EventBatch:
        return merge_batches(deltas, batch_id=batch_id, level=Level.MESSAGE, sent_at=deltas[-1].sent_at)

    def _compact(self, batch_id: str) -> None:
        deltas = self._deltas(batch_id)
        if not deltas:
            return
        merged = self._merged(batch_id, deltas)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))
            self._db.execute("INSERT INTO pending (batch_id, payload) VALUES (?, ?)", (batch_id, encode(merged)))
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise

    def _note_failure(self, what: str, error: sqlite3.Error) -> None:
        if not self._failing:
            log.error(what, extra={"path": str(self.path), "error": str(error)})
        self._failing = True


__all__ = ["COMPACT_EVERY", "PendingLog"]
