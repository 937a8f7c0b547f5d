"""The agent's actor tree under fire: each child actor crashes in turn while the fleet runs,
is restarted by the supervisor (the crash logged once, with its cause), and the agent
still converges: a new policy is applied and reported, a drift is repaired and reported,
and every report reaches the master. And `partout agent` exits promptly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import Fleet, FleetAgent, agent_process, approved, running_fleet
from helpers import eventually

from partout.agent.supervisor import CHILDREN


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


def crash_lines(caplog: pytest.LogCaptureFixture, child: str) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "partout.actors.supervisor" and record.getMessage().startswith(f"actor {child} failed")]


def at_the_master(fleet: Fleet, agent: FleetAgent) -> bool:
    local = {report.report_id for report in agent.runs()}
    stored = {r["report_id"] for r in fleet.operator.reports(agent.agent.agent_id or "", limit=200)}
    return local <= stored


def test_each_agent_child_that_crashes_is_restarted_and_the_agent_still_converges(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    agent = fleet.agent("prod-supervised")
    assert approved(agent)
    assert eventually(lambda: agent.content() == "production 1\n", timeout=30)
    for number, child in enumerate(CHILDREN, start=2):
        agent.agent.crash_child(child, f"test crash of {child}")
        assert eventually(lambda: agent.agent.status.restarts.get(child) == 1, timeout=20), child
        assert eventually(lambda: len(crash_lines(caplog, child)) == 1, timeout=5), child
        assert f"InjectedCrash: test crash of {child}" in crash_lines(caplog, child)[0]

        content = f"production {number}\n"
        fleet.write_policy("production", content)  # a new policy is applied and reported ...
        assert eventually(lambda: agent.content() == content, timeout=30), child
        assert eventually(lambda: any(r.report.trigger == "run" and r.sequence == agent.agent.applied_sequence
                                      for r in agent.runs()), timeout=30), child
        repairs = sum(r.report.trigger == "watch" for r in agent.runs())
        agent.motd.write_text("drift\n")  # ... a drift is repaired and reported
        assert eventually(lambda: agent.content() == content, timeout=30), child
        assert eventually(lambda: sum(r.report.trigger == "watch" for r in agent.runs()) > repairs, timeout=30)
        assert eventually(lambda: at_the_master(fleet, agent), timeout=30), child
        assert len(crash_lines(caplog, child)) == 1  # logged once
    assert agent.agent.state == "running"
    assert dict(agent.agent.status.restarts) == {child: 1 for child in CHILDREN}


def test_partout_agent_exits_promptly_on_sigterm(tmp_path: Path) -> None:
    with running_fleet(tmp_path) as fleet:
        log_path = tmp_path / "agent.log"
        process = agent_process(fleet, "anyhost-term", log_path)
        try:
            motd = tmp_path / "roots" / "anyhost-term" / "motd"
            assert eventually(lambda: motd.exists() and motd.read_text() == "production 1\n", timeout=30), \
                log_path.read_text()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)  # the bound: a process never hangs on shutdown
            except subprocess.TimeoutExpired:
                pytest.fail(f"partout agent still runs 5 s after SIGTERM:\n{log_path.read_text()}")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, log_path.read_text()
