"""Attack 7: a revoked or refused agent knocking forever, and credentials that never expire.

A revoked agent (its key is refused by the master's auth callout at every connection) backs
off with doubling pauses and says why once; a refused enrolment is waited out the same way;
credentials expire (a day by default) and an approved agent renews them silently, losing no
report. Each against a real partout-nats + master with real agents beside it."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

import pytest
from ops_support import Fleet, approved, enrol, eventually, fleet, new_agent_key, wait_pending

from partout.master.config import MasterConfig
from partout.master.daemon import Master

__all__ = ["fleet"]

SERVER_TIME = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+)")


def refused_attempts(fleet: Fleet, public_key: str) -> list[datetime]:
    """When nats-server refused `public_key`, from the server's own log."""
    times = []
    for log in (fleet.nats_state / "logs").glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "authentication error" in line and public_key in line and (found := SERVER_TIME.search(line)):
                times.append(datetime.strptime(found.group(1), "%Y/%m/%d %H:%M:%S.%f"))
    return sorted(times)


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.levelno == logging.WARNING and text in record.getMessage()]


def restart_master(fleet: Fleet, **changes: object) -> None:
    fleet.stop_master()
    fleet.master = Master(MasterConfig(**{**fleet.master_config().model_dump(), **changes})).start()


def test_a_revoked_agent_backs_off_and_says_why_once(fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    revoked = fleet.agent("prod-revoked", refused_max_wait=2.0)
    bystander = fleet.agent("prod-bystander")
    assert approved(revoked) and approved(bystander)
    key = revoked.agent.public_key

    fleet.operator.revoke(str(revoked.agent.agent_id))

    assert eventually(lambda: len(refused_attempts(fleet, key)) >= 7, timeout=60)
    attempts = refused_attempts(fleet, key)
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(attempts, attempts[1:])]
    # doubling pauses capped at 2 s (minus at most 20 % jitter): no more 4 knocks a second
    assert all(gap >= 1.0 for gap in gaps[4:]), gaps
    assert len(warnings(caplog, "NATS refuses this agent's key")) == 1
    assert "revoked on the master" in warnings(caplog, "NATS refuses this agent's key")[0]
    # the rest of the fleet is served as before
    fleet.write_policy("production", "production 2\n")
    assert eventually(lambda: bystander.content() == "production 2\n", timeout=30)
    assert revoked.content() == "production 1\n"


def test_a_refused_enrolment_is_waited_out_and_said_once(fleet: Fleet, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    restart_master(fleet, max_pending=1)
    squatter = new_agent_key(tmp_path, "squatter")  # a hostile client fills the only pending slot
    assert (reply := enrol(fleet.urls, squatter, hostname="squatter")) is not None and reply.status == "pending"
    waiting = fleet.agent("web-refused", refused_max_wait=1.0)

    assert eventually(lambda: len(warnings(caplog, "the master refused enrolment")) == 1, timeout=20)
    assert "already wait for approval" in warnings(caplog, "the master refused enrolment")[0]
    assert waiting.agent.state == "pending"  # still trying, not dead
    fleet.operator.revoke(squatter.public)  # the operator clears the flood ...
    assert wait_pending(fleet, waiting.agent.public_key)  # ... and the real agent gets through
    fleet.operator.approve(waiting.agent.public_key)
    assert approved(waiting, timeout=30)
    assert eventually(lambda: waiting.content() == "production 1\n", timeout=20)
    assert len(warnings(caplog, "the master refused enrolment")) == 1


def test_credentials_expire_by_default_after_a_day() -> None:
    assert MasterConfig(nats_state=Path("/nonexistent")).agent_credentials_ttl == 86400


def test_expired_credentials_are_renewed_silently_without_losing_reports(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    restart_master(fleet, agent_credentials_ttl=2.0)
    agent = fleet.agent("prod-renewing")
    assert approved(agent)
    first_bus = agent.agent.bus
    renewals: list[object] = [first_bus]

    def renewed(times: int) -> bool:
        if agent.agent.bus is not renewals[-1]:
            renewals.append(agent.agent.bus)
        return len(renewals) > times

    for round_number in range(3):  # drift repairs across several expiries
        agent.motd.write_text(f"drift {round_number}\n")
        assert eventually(lambda: agent.content() == "production 1\n", timeout=20)
        assert eventually(lambda: renewed(round_number + 1), timeout=20)
    local = {report.report_id for report in agent.runs()}
    agent_id = str(agent.agent.agent_id)
    assert eventually(lambda: local <= {r["report_id"] for r in fleet.operator.reports(agent_id, limit=100)},
                      timeout=30)
    assert agent.agent.state == "running"
    assert [record.getMessage() for record in caplog.records if record.name.startswith("partout.agent")] == []


def renewals(caplog: pytest.LogCaptureFixture, *, expired: bool) -> int:
    return sum(1 for record in caplog.records
               if record.getMessage() == "renewing NATS credentials" and getattr(record, "expired", None) is expired)


def test_after_one_expiry_credentials_are_renewed_before_they_expire(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.agent")
    restart_master(fleet, agent_credentials_ttl=5.0)
    agent = fleet.agent("prod-early")
    assert approved(agent)

    assert eventually(lambda: renewals(caplog, expired=False) >= 3, timeout=60)

    # the first lifetime is learnt from an expiry; after it, renewals come first (a late one
    # on a loaded machine may still meet an expiry, and is then renewed all the same)
    assert renewals(caplog, expired=True) <= 2
    agent.motd.write_text("drift\n")
    assert eventually(lambda: agent.content() == "production 1\n", timeout=20)
    local = {report.report_id for report in agent.runs()}
    agent_id = str(agent.agent.agent_id)
    assert eventually(lambda: local <= {r["report_id"] for r in fleet.operator.reports(agent_id, limit=100)},
                      timeout=30)
    assert [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING and record.name.startswith("partout.agent")] == []
