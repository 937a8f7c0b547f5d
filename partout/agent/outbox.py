"""Reports on their way to JetStream: published with the report id as message id (so a
retry is stored once), kept until the server acknowledges them, published again when a
publish failed (the connection may have been replaced in between)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from partout import subjects
from partout.wire import encode
from partout.wire.fleet import RunReport

log = logging.getLogger(__name__)

ACK_TIMEOUT = 30.0


class ReportOutbox:
    """Used from the agent's thread only; `bus` returns the connection in use now."""

    def __init__(self, bus: Callable[[], Any]) -> None:
        self._bus = bus
        self._unacked: list[tuple[Any, RunReport, bytes]] = []

    def __len__(self) -> int:
        return len(self._unacked)

    def send(self, report: RunReport) -> None:
        data = encode(report)
        self._unacked.append((self._publish(report, data), report, data))

    def _publish(self, report: RunReport, data: bytes) -> Any:
        return self._bus().jetstream_publish(subjects.agent_report(report.agent_id), data,
                                             message_id=report.report_id, timeout=ACK_TIMEOUT)

    def check(self) -> None:
        """Forget the acknowledged reports, publish the failed ones again."""
        import pykka

        pending: list[tuple[Any, RunReport, bytes]] = []
        for future, report, data in self._unacked:
            try:
                future.get(timeout=0)
            except pykka.Timeout:
                pending.append((future, report, data))
            except Exception as error:  # not stored: try again with the same id
                log.warning("report not acknowledged, retrying",
                            extra={"report_id": report.report_id, "error": str(error)})
                pending.append((self._publish(report, data), report, data))
        self._unacked = pending

    def wait(self, timeout: float) -> None:
        """Wait for every acknowledgement up to `timeout` seconds in all (at stop, --once)."""
        deadline = time.monotonic() + timeout
        for future, report, _ in self._unacked:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as error:
                log.warning("report may be lost", extra={"report_id": report.report_id, "error": str(error)})
        self._unacked = []


__all__ = ["ACK_TIMEOUT", "ReportOutbox"]
