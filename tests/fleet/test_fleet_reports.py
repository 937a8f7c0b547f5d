"""Facts and reports reach the master's SQLite store, survive a master restart, and
are shown by the operator CLI."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import Fleet, running_fleet
from helpers import eventually, run_partout


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


def _stored_report_ids(fleet: Fleet) -> set[str]:
    database = fleet.directory / "master" / "store.sqlite"
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
        table = next(name for name in tables if "report" in name and "result" not in name)
        return {row[0] for row in connection.execute(f"select report_id from {table}")}


def test_pending_agent_is_approved_with_the_cli_and_its_facts_and_reports_are_shown(fleet: Fleet) -> None:
    agent = fleet.agent("unlisted-9")
    assert eventually(lambda: bool(fleet.operator.agents(status="pending")), timeout=15)
    listed = run_partout("agents", "list", "--status", "pending", "--json", *fleet.operator_args())
    assert listed.returncode == 0, listed.stderr
    pending = json.loads(listed.stdout)
    assert [entry["hostname"] for entry in pending] == ["unlisted-9"]
    approve = run_partout("agents", "approve", pending[0]["public_key"], "--env", "production",
                          *fleet.operator_args())
    assert approve.returncode == 0, approve.stderr
    assert eventually(lambda: agent.content() == "production 1\n", timeout=15)
    agent_id = agent.agent.agent_id or ""
    assert eventually(lambda: _stored_report_ids(fleet) >= {r.report_id for r in agent.runs()} != set(), timeout=15)

    shown = run_partout("agents", "show", agent_id, "--json", *fleet.operator_args())
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    text = json.dumps(details)
    assert "unlisted-9" in text and str(agent.root) in text  # the facts (custom root) are stored
    reports = run_partout("reports", agent_id, "--json", *fleet.operator_args())
    assert reports.returncode == 0, reports.stderr
    assert agent.runs()[0].report_id in reports.stdout
    human = run_partout("reports", agent_id, *fleet.operator_args())
    assert human.returncode == 0 and human.stdout.strip(), human.stderr


def test_reports_made_while_the_master_is_down_are_stored_when_it_returns(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) == 1, timeout=15)
    fleet.stop_master()
    for number in range(3):  # drift repairs, each reported while nothing ingests
        agent.motd.write_text(f"drift {number}\n")
        assert eventually(lambda n=number: len(agent.runs()) == 2 + n and agent.content() == "production 1\n")
    fleet.start_master()
    ids = {report.report_id for report in agent.runs()}
    assert eventually(lambda: _stored_report_ids(fleet) >= ids, timeout=20)


@pytest.mark.slow
def test_a_master_killed_mid_run_and_restarted_loses_no_report(tmp_path: Path) -> None:
    from fleetenv import MasterProcess

    with running_fleet(tmp_path, master=False) as fleet:
        master = MasterProcess(fleet)
        master.start()
        try:
            agent = fleet.agent("prod-1", master_key=None)
            # the first report is sent once the file is watched: drift before it would go unseen
            assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) == 1, timeout=30)
            for number in range(6):  # repairs keep coming while the master dies and comes back
                if number == 2:
                    master.kill()
                if number == 4:
                    master.start()
                agent.motd.write_text(f"drift {number}\n")
                assert eventually(lambda n=number: len(agent.runs()) >= 2 + n and agent.content() == "production 1\n"), \
                    (number, [(r.report.trigger, r.report.results[0].summary) for r in agent.runs()], agent.content(), agent.agent.state)
            ids = {report.report_id for report in agent.runs()}
            assert eventually(lambda: _stored_report_ids(fleet) >= ids, timeout=30)
        finally:
            master.stop()


@pytest.mark.slow
def test_agents_carry_on_after_nats_restarts(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) == 1, timeout=15)
    node = fleet.backbone.nodes[0]
    node.stop()
    node.start()
    fleet.write_policy("production", "production 2\n")  # published once the master is back
    assert eventually(lambda: agent.content() == "production 2\n", timeout=30)
    ids = {report.report_id for report in agent.runs()}
    assert eventually(lambda: _stored_report_ids(fleet) >= ids, timeout=30)
