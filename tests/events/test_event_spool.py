"""The offline spool: real SQLite files, a real process killed mid-write, a real full disk."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from partout.events.counts import build_batch
from partout.events.spool import MessageKind, Spool, SpoolFull
from partout.events.wire import EventBatch, Level, parse_batch
from partout.report import Status

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SUBJECT = "partout.agent.web1.events"
REPORTS = "partout.agent.web1.report"
ROOT = Path(__file__).resolve().parents[2]


def batch(number: int, events: int = 5, distinct: int = 5) -> EventBatch:
    counts: Counter[tuple[str | None, str | None, str | None, Status]] = Counter()
    for event in range(events):
        counts[("file", f"/srv/{number}/{event % distinct}", f"content changed {event % 3}", Status.CHANGED)] += 1
    return build_batch(counts, Level.MESSAGE, batch_id=f"batch{number:08d}", agent_id="web1",
                       period_start=T0 + timedelta(seconds=10 * number),
                       period_end=T0 + timedelta(seconds=10 * number + 10),
                       sent_at=T0 + timedelta(seconds=10 * number + 10))


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    opened = Spool(tmp_path / "spool.db")
    try:
        yield opened
    finally:
        opened.close()


def drain(spool: Spool) -> list[str]:
    ids = []
    while messages := spool.peek(3):
        for message in messages:
            ids.append(message.message_id)
            spool.ack(message.message_id)
    return ids


def test_messages_drain_in_the_order_they_were_spooled(spool: Spool) -> None:
    spool.put_batch(SUBJECT, batch(1))
    spool.put_report(REPORTS, "report-1", b'{"report": 1}')
    spool.put_batch(SUBJECT, batch(2))
    first = spool.peek(2)
    assert [(m.message_id, m.kind, m.subject) for m in first] == [
        ("batch00000001", MessageKind.EVENTS, SUBJECT), ("report-1", MessageKind.REPORT, REPORTS)]
    assert parse_batch(first[0].payload) == batch(1)
    assert spool.peek(1)[0].message_id == "batch00000001"  # nothing leaves before its ack
    spool.ack("batch00000001")
    assert drain(spool) == ["report-1", "batch00000002"]
    assert len(spool) == 0 and spool.used_bytes == 0


def test_a_message_spooled_twice_is_kept_once(spool: Spool) -> None:
    spool.put_batch(SUBJECT, batch(1))
    spool.put_batch(SUBJECT, batch(1))
    assert len(spool) == 1 and spool.event_count() == 5


def test_the_spool_outlives_its_process_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    first = Spool(path)
    first.put_batch(SUBJECT, batch(1))
    first.put_report(REPORTS, "report-1", b"{}")
    first.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Spool(path)
    assert [m.message_id for m in again.peek(5)] == ["batch00000001", "report-1"]
    assert again.used_bytes > 0
    with sqlite3.connect(path) as check:
        journal, vacuum = (check.execute(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "auto_vacuum"))
    assert (journal, vacuum) == ("delete", 2)  # a rollback journal; 2 = incremental vacuum
    assert again._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsynced at every commit
    again.close()


def test_an_unusable_spool_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "spool.db"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(Exception, match="spool.db: cannot open the spool"):
        Spool(bad)


def test_at_the_bound_old_detail_folds_into_coarser_counts_and_no_count_is_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=40_000)
    for number in range(200):
        spool.put_batch(SUBJECT, batch(number, events=20, distinct=10))
        assert spool.used_bytes <= 40_000
    assert spool.event_count() == 200 * 20
    payloads = [parse_batch(m.payload) for m in spool.peek(1000)]
    assert sum(b.count for b in payloads) == 4000
    assert payloads[0].level < Level.MESSAGE  # the oldest lost detail
    assert payloads[-1] == batch(199, events=20, distinct=10)  # the newest is as it was made
    assert payloads[0].period_start == T0  # a folded batch covers every period it absorbed
    starts = [b.period_start for b in payloads]
    assert starts == sorted(starts)
    spool.close()


def test_reports_are_never_folded_and_one_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=8192)
    spool.put_batch(SUBJECT, batch(0, events=30, distinct=30))
    kept = []
    with pytest.raises(SpoolFull, match="report report-\\d+ .* is not spooled"):
        for number in range(100):
            spool.put_report(REPORTS, f"report-{number}", b"r" * 500)
            kept.append(f"report-{number}")
    # events still find room: folded, or kept as per-agent counts past the bound
    for number in range(1, 50):
        spool.put_batch(SUBJECT, batch(number, events=30, distinct=30))
    assert spool.event_count() == 50 * 30
    messages = spool.peek(1000)
    assert [m.message_id for m in messages if m.kind == MessageKind.REPORT] == kept
    assert all(m.payload == b"r" * 500 for m in messages if m.kind == MessageKind.REPORT)
    assert spool.used_bytes <= 8192 + 1024
    spool.close()


def test_a_message_handed_out_is_never_folded_even_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, max_bytes=20_000)
    spool.put_batch(SUBJECT, batch(0, events=40, distinct=40))
    handed = spool.peek(1)[0]
    spool.close()
    spool = Spool(path, max_bytes=20_000)  # restarted before the ack came
    for number in range(1, 100):
        spool.put_batch(SUBJECT, batch(number, events=40, distinct=40))
    head = spool.peek(1)[0]
    assert (head.message_id, head.payload) == (handed.message_id, handed.payload)
    assert spool.event_count() == 100 * 40
    spool.close()


WRITER = """
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from partout.events.counts import build_batch
from partout.events.spool import Spool
from partout.events.wire import Level
from partout.report import Status

spool = Spool(Path(sys.argv[1]), max_bytes=int(sys.argv[2]))
start = datetime(2024, 3, 1, tzinfo=UTC)
number = 0
while True:
    number += 1
    counts = Counter({("file", f"/srv/{number}/{i}", "changed", Status.CHANGED): 1 for i in range(10)})
    batch = build_batch(counts, Level.MESSAGE, batch_id=f"batch{number:08d}", agent_id="web1",
                        period_start=start, period_end=start, sent_at=start)
    spool.put_batch("partout.agent.web1.events", batch)
    if number % 7 == 0:
        spool.put_report("partout.agent.web1.report", f"report{number:08d}", b"x" * 300)
    print(number, flush=True)
"""


@pytest.mark.parametrize("max_bytes", [64 * 1024 * 1024, 30_000])
def test_a_process_killed_mid_write_loses_nothing_it_was_told_was_spooled(tmp_path: Path, max_bytes: int) -> None:
    path = tmp_path / "spool.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(max_bytes)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert writer.stdout is not None
    confirmed = 0
    try:
        for line in writer.stdout:
            confirmed = int(line)
            if confirmed >= 300:
                break
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    spool = Spool(path, max_bytes=max_bytes)
    assert spool.event_count() >= confirmed * 10  # the one being written when killed may be there too
    reports = [m.message_id for m in spool.peek(100_000) if m.kind == MessageKind.REPORT]
    assert reports[: confirmed // 7] == [f"report{n:08d}" for n in range(7, confirmed + 1, 7)]
    spool.close()


def mounted_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def fill_until_full(spool: Spool, caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """Spool batches and reports until the disk refuses a report; (events, reports) spooled."""
    events = reports = 0
    for number in range(100_000):
        spool.put_batch(SUBJECT, batch(number, events=10, distinct=10))
        events += 10
        try:
            spool.put_report(REPORTS, f"report-{number}-{uuid.uuid4().hex}", os.urandom(2000))
        except SpoolFull as full:
            assert "disk is full" in str(full)
            return events, reports
        reports += 1
    raise AssertionError("the disk never filled")


def check_full_disk_behaviour(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="partout.events.spool"):
        events, reports = fill_until_full(spool, caplog)
        for number in range(100_000, 100_050):  # the disk stays full: counts wait in memory
            spool.put_batch(SUBJECT, batch(number, events=10, distinct=10))
        events += 500
    full_lines = [r for r in caplog.records if r.getMessage().startswith("spool full")]
    assert len(full_lines) == 1, [r.getMessage() for r in caplog.records]
    assert spool.event_count() == events
    drained_events = drained_reports = 0
    while messages := spool.peek(5):
        for message in messages:
            if message.kind == MessageKind.EVENTS:
                drained_events += parse_batch(message.payload).count
            else:
                drained_reports += 1
            spool.ack(message.message_id)
    assert (drained_events, drained_reports) == (events, reports)
    spool.put_report(REPORTS, "after-drain", b"{}")  # room again
    assert [m.message_id for m in spool.peek(1)] == ["after-drain"]


def test_a_full_disk_stops_growth_with_one_log_line_and_keeps_every_count(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = tmp_path / "disk"
    if not mounted_tmpfs(disk, "512k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        spool = Spool(disk / "spool.db", reserve_bytes=64 * 1024)
        assert (disk / "spool.db.reserve").stat().st_size == 64 * 1024
        try:
            check_full_disk_behaviour(spool, caplog)
        finally:
            spool.close()
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def test_a_file_size_limit_stops_growth_like_a_full_disk(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool.db", max_file_bytes=256 * 1024, reserve_bytes=0)
    check_full_disk_behaviour(spool, caplog)
    spool.close()
