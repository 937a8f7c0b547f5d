"""Reports on their way to JetStream: published with the report id as message id (so a
retry is stored once), kept until the server acknowledges them, published again after a
`Backoff` pause when a publish failed, and at once on a new connection.

`ReportOutbox` is the plain in-memory bookkeeping of `partout agent --once` (and tests).
The daemon's outbox child is partout.agent.spool_actor.SpoolActor: the same message ids,
but every report is on disk (the spool) until acknowledged, so it survives a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pykka

from partout import subjects
from partout.retry import Backoff
from partout.wire import encode
from partout.wire.fleet import RunReport

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.bus.messages import PublishAck

log = logging.getLogger(__name__)

ACK_TIMEOUT = 30.0


@dataclass
class _Entry:
    report: RunReport
    data: bytes
    future: pykka.Future[PublishAck] | None = None  # None: to publish (again) at `due`
    due: float = 0.0


class ReportOutbox:
    """Used from one thread (or actor); `bus` returns the connection in use now, or None."""

    def __init__(self, bus: Callable[[], Bus | None]) -> None:
        self._bus = bus
        self._entries: list[_Entry] = []
        self._retries = Backoff(first=0.5, limit=10.0)

    def __len__(self) -> int:
        return len(self._entries)

    def reports(self) -> list[RunReport]:
        return [entry.report for entry in self._entries]

    def send(self, report: RunReport) -> None:
        entry = _Entry(report, encode(report))
        self._entries.append(entry)
        self._publish(entry)

    def resend(self) -> None:
        """Publish every unacknowledged report again now (a new connection: the old one's
        publishes will fail; the same message id makes a report that did land count once)."""
        for entry in self._entries:
            self._publish(entry)

    def _publish(self, entry: _Entry) -> None:
        bus = self._bus()
        if bus is None:
            entry.future, entry.due = None, time.monotonic()
            return
        entry.future = bus.jetstream_publish(subjects.agent_report(entry.report.agent_id), entry.data,
                                             message_id=entry.report.report_id, timeout=ACK_TIMEOUT)

    def check(self) -> None:
        """Forget the acknowledged reports; publish the failed ones again once their pause is over."""
        pending: list[_Entry] = []
        for entry in self._entries:
            if entry.future is None:
                if time.monotonic() >= entry.due:
                    self._publish(entry)
                pending.append(entry)
                continue
            try:
                entry.future.get(timeout=0)
            except pykka.Timeout:
                pending.append(entry)
                continue
            except Exception as error:  # not stored: try again with the same id
                delay = self._retries.next(entry.report.report_id)
                log.warning("report not acknowledged, retrying",
                            extra={"report_id": entry.report.report_id, "error": str(error),
                                   "retry_in": round(delay, 2)})
                entry.future, entry.due = None, time.monotonic() + delay
                pending.append(entry)
                continue
            self._retries.reset(entry.report.report_id)
        self._entries = pending

    def wait(self, timeout: float) -> None:
        """Wait for every acknowledgement up to `timeout` seconds in all (at stop, --once)."""
        deadline = time.monotonic() + timeout
        for entry in self._entries:
            try:
                if entry.future is None:
                    self._publish(entry)
                if entry.future is None:
                    raise TimeoutError("no connection")
                entry.future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as error:
                log.warning("report may be lost", extra={"report_id": entry.report.report_id, "error": str(error)})
        self._entries = []


__all__ = ["ACK_TIMEOUT", "ReportOutbox"]
