"""The master is a supervised actor tree: each child, crashed in turn while the fleet runs,
is restarted (its crash logged once, with its cause) and the fleet goes on working; and
`partout master` exits promptly on SIGTERM."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import pytest
from fleetenv import Fleet, FleetAgent, MasterProcess, approved, running_fleet
from helpers import eventually

from partout.master.daemon import CHILDREN


def _restarted(fleet: Fleet, name: str, times: int) -> bool:
    master = fleet.master
    assert master is not None
    ref = master.child(name)
    return master.restarts().get(name, 0) >= times and ref is not None and ref.is_alive()


def _reports_stored(fleet: Fleet, agent: FleetAgent) -> bool:
    assert fleet.master is not None
    stored = {record.report_id for record in fleet.master.store.reports(agent.agent.agent_id or "", 100)}
    return bool(agent.runs()) and {report.report_id for report in agent.runs()} <= stored


def _fleet_works(fleet: Fleet, number: int, agents: list[FleetAgent]) -> FleetAgent:
    """A new agent is admitted by the callout and enrolled, a policy change reaches every
    agent, their reports are stored, and the operator API answers."""
    newcomer = fleet.agent(f"prod-{number}")
    assert approved(newcomer, timeout=30), f"prod-{number} was not admitted and approved"
    agents.append(newcomer)
    fleet.write_policy("production", f"production {number}\n")
    for agent in agents:
        assert eventually(lambda: agent.content() == f"production {number}\n", timeout=30), agent.agent.config.hostname
        assert eventually(lambda: _reports_stored(fleet, agent), timeout=30)
    listed = {entry["hostname"] for entry in fleet.operator.agents(status="approved")}
    assert {agent.agent.config.hostname for agent in agents} <= listed
    return newcomer


@pytest.mark.slow
def test_each_master_child_crashed_in_turn_is_restarted_and_the_fleet_keeps_working(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.master")
    with running_fleet(tmp_path) as fleet:
        master = fleet.master
        assert master is not None
        agents: list[FleetAgent] = []
        _fleet_works(fleet, 1, agents)
        for number, name in enumerate(CHILDREN, start=2):
            master.crash(name, f"test crash of {name}")
            assert eventually(lambda: _restarted(fleet, name, 1), timeout=30), f"{name} was not restarted"
            crashes = [record for record in caplog.records if record.getMessage().startswith(f"master actor {name} ")]
            assert len(crashes) == 1, f"{name}: {[record.getMessage() for record in crashes]}"
            assert f"InjectedCrash: test crash of {name}" in crashes[0].getMessage()
            assert crashes[0].exc_info is not None  # the traceback of the cause
            if name == "kicker":  # the restarted kicker still disconnects a revoked agent
                doomed = fleet.agent(f"stage-{number}")
                assert approved(doomed, timeout=30)
                revoked = fleet.operator.revoke(doomed.agent.agent_id or "")
                assert revoked["status"] == "revoked" and revoked["disconnected"] >= 1
            _fleet_works(fleet, number, agents)
        assert master.restarts() == {name: 1 for name in CHILDREN}


def test_a_crashed_child_is_restarted_with_a_growing_delay(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.master")
    with running_fleet(tmp_path) as fleet:
        master = fleet.master
        assert master is not None
        for times in (1, 2, 3):
            master.crash("ingest")
            assert eventually(lambda: _restarted(fleet, "ingest", times), timeout=30)
        delays = [float(record.getMessage().rsplit("restarting it in ", 1)[1].split()[0])
                  for record in caplog.records if record.getMessage().startswith("master actor ingest crashed")]
        assert len(delays) == 3
        assert delays[0] <= 0.5 < delays[2]  # 0.25-0.5 s, then 0.5-1, then 1-2
        agent = fleet.agent("prod-1")
        assert approved(agent) and eventually(lambda: _reports_stored(fleet, agent), timeout=30)


def test_partout_master_exits_soon_after_sigterm(tmp_path: Path) -> None:
    with running_fleet(tmp_path, master=False) as fleet:
        process = MasterProcess(fleet)
        process.start()
        try:
            agent = fleet.agent("prod-1")
            assert approved(agent, timeout=30)
            assert process.process is not None
            process.process.send_signal(signal.SIGTERM)
            assert process.process.wait(timeout=5) == 0
        finally:
            process.stop()
