"""Counts not yet in a batch, on disk (partout.events.pending): recovered after the process
that wrote them is gone (a real child process killed with SIGKILL), one batch per period
under the id the aggregator gave it, compacted without losing a count, 0600, and a bad
row or file named in the log or the error."""

from __future__ import annotations

import logging
import signal
import sqlite3
import stat
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from partout.errors import StateError
from partout.events.aggregator import Aggregator
from partout.events.counts import build_batch, leaves_of
from partout.events.pending import COMPACT_EVERY, PendingLog
from partout.events.wire import Event, EventBatch, Level
from partout.report import Status

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def delta(batch_id: str, seconds: float, title: str = "/etc/motd", count: int = 1) -> EventBatch:
    leaves: Counter[tuple[str | None, str | None, str | None, Status]] = Counter()
    leaves[("file", title, "content changed", Status.CHANGED)] = count
    return build_batch(leaves, Level.MESSAGE, batch_id=batch_id, agent_id="web1", period_start=T0,
                       period_end=T0 + timedelta(seconds=seconds), sent_at=T0 + timedelta(seconds=seconds),
                       sequence=3)


WRITER = """
import sys
from datetime import UTC, datetime
from collections import Counter
from pathlib import Path
from partout.events.counts import build_batch
from partout.events.pending import PendingLog
from partout.events.wire import Level
from partout.report import Status

log = PendingLog(Path(sys.argv[1]))
for number in range(int(sys.argv[2])):
    leaves = Counter({("file", f"/srv/{number % 7}", "content changed", Status.CHANGED): 1})
    now = datetime.now(UTC)
    log.put(build_batch(leaves, Level.MESSAGE, batch_id="period-" + str(number // 50), agent_id="web1",
                        period_start=now, period_end=now, sent_at=now))
print("written", flush=True)
sys.stdin.read()  # wait to be killed
"""


def test_counts_of_a_killed_process_are_recovered_one_batch_per_period(tmp_path: Path) -> None:
    path = tmp_path / "events-pending.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "120"], stdout=subprocess.PIPE,
                              stdin=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT)})
    assert writer.stdout is not None and writer.stdout.readline() == "written\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)

    pending = PendingLog(path)
    recovered = pending.recover()
    assert [batch.batch_id for batch in recovered] == ["period-0", "period-1", "period-2"]  # oldest first
    assert [batch.count for batch in recovered] == [50, 50, 20]
    assert recovered[0].level == Level.MESSAGE and recovered[0].modules is not None
    assert pending.recover() == recovered  # kept until forgotten
    for batch in recovered:
        pending.forget(batch.batch_id)
    assert pending.recover() == [] and pending.event_count() == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_long_period_is_compacted_without_losing_a_count(tmp_path: Path) -> None:
    pending = PendingLog(tmp_path / "pending.db")
    for number in range(5 * COMPACT_EVERY + 3):
        pending.put(delta("period-long", number, title=f"/srv/{number % 11}"))
    pending.put(delta("period-next", 1, count=4))
    with sqlite3.connect(tmp_path / "pending.db") as db:
        rows = db.execute("SELECT COUNT(*) FROM pending WHERE batch_id = 'period-long'").fetchone()[0]
    assert rows < COMPACT_EVERY
    long, following = pending.recover()
    assert (long.batch_id, long.count, following.count) == ("period-long", 5 * COMPACT_EVERY + 3, 4)
    assert sum(leaves_of(long).values()) == long.count and len(leaves_of(long)) == 11  # detail kept
    assert long.period_end == T0 + timedelta(seconds=5 * COMPACT_EVERY + 2)


def test_the_aggregator_sends_a_period_under_the_id_its_pending_counts_were_kept_under() -> None:
    ids = iter(f"batch-{number:04d}" for number in range(100))
    aggregator = Aggregator("web1", now=T0, new_id=lambda: next(ids), uniform=lambda: 0.5)
    event = Event(agent_id="web1", module="file", title="/etc/motd", status=Status.CHANGED, message="m",
                  agent_time=T0, sequence=1)
    aggregator.add(event, T0)
    kept_under = aggregator.open_batch_id
    assert aggregator.open_batch_id == kept_under  # drawn once per period
    sent = aggregator.poll(T0 + timedelta(seconds=60))
    assert sent is not None and sent.batch_id == kept_under
    aggregator.add(event, T0 + timedelta(seconds=61))
    assert aggregator.open_batch_id != kept_under  # the next period has its own


def test_an_unreadable_row_is_skipped_and_named_and_the_others_recovered(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "pending.db"
    pending = PendingLog(path)
    pending.put(delta("period-1", 1))
    pending.put(delta("period-1", 2))
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO pending (batch_id, payload) VALUES ('period-1', ?)", (b'{"not": "a batch"',))
    with caplog.at_level(logging.ERROR, logger="partout.events.pending"):
        (recovered,) = PendingLog(path).recover()
    assert recovered.count == 2
    assert "unreadable pending event counts skipped" in caplog.text
    assert any(getattr(record, "path", None) == str(path) for record in caplog.records)


def test_a_path_that_cannot_be_a_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=str(tmp_path / "a-dir")):
        (tmp_path / "a-dir").mkdir()
        PendingLog(tmp_path / "a-dir")
