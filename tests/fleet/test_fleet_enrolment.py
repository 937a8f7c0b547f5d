"""Enrolment and approval end to end: real nats-server, real master, real agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import TOKEN, Fleet, running_fleet
from helpers import eventually, run_partout


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


def test_an_unknown_agent_waits_pending_until_an_operator_approves_it(fleet: Fleet) -> None:
    agent = fleet.agent("unlisted-1")
    assert eventually(lambda: agent.agent.state == "pending")
    assert eventually(lambda: [a["hostname"] for a in fleet.operator.agents(status="pending")] == ["unlisted-1"])
    assert agent.content() is None
    pending = fleet.operator.agents(status="pending")[0]
    fleet.operator.approve(pending["public_key"], environment="staging")
    assert eventually(lambda: agent.content() == "staging 1\n", timeout=15)
    assert agent.agent.environment == "staging"


def test_an_agent_with_the_enrolment_token_is_approved_at_once(fleet: Fleet) -> None:
    agent = fleet.agent("anyhost-7", token=TOKEN)
    assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) == 1, timeout=15)
    report = agent.runs()[0]
    assert (report.environment, report.report.trigger) == ("production", "run")
    assert report.sequence >= 1


def test_agents_are_approved_by_hostname_into_their_environment(fleet: Fleet) -> None:
    production = fleet.agent("prod-1")
    staging = fleet.agent("stage-1")
    assert eventually(lambda: production.content() == "production 1\n", timeout=15)
    assert eventually(lambda: staging.content() == "staging 1\n", timeout=15)


def test_a_master_key_other_than_the_masters_is_refused(fleet: Fleet) -> None:
    from partout.nats.jwt import create_key
    import nkeys

    wrong = create_key(nkeys.PREFIX_BYTE_USER).public_key.decode()
    agent = fleet.agent("prod-2", master_key=wrong)
    assert eventually(lambda: agent.agent.state == "refused", timeout=15)
    assert "--master-key" in (agent.agent.error or "")
    assert agent.content() is None


def test_agent_once_cli_enrols_applies_and_exits_zero(fleet: Fleet, tmp_path: Path) -> None:
    config = fleet.agent_config("prod-cli")
    result = run_partout("agent", "--once", "--wait", "30", "--nats", fleet.urls[0],
                         "--state-dir", str(config.state_dir), "--hostname", "prod-cli",
                         "--facts", str(config.facts_file), "--master-key", str(config.master_key))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "roots" / "prod-cli" / "motd").read_text() == "production 1\n"
