"""An agent and a fired trigger, against a real partout-nats and master: Control "trigger" on
its control subject (sent as the master routes it) makes the agent apply at once with the
triggers' data in its `p2.on_trigger` blocks; later runs leave those blocks out; a malformed
trigger is ignored and logged, and the agent keeps running."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_events_support import send_control
from fleetenv import Fleet, FleetAgent, approved, fleet_with_site
from helpers import eventually

from partout.wire.fleet import Control
from partout.wire.triggers import FiredTrigger, trigger_parameters

SITE = '''
root = facts.custom.get("root", "/tmp/partout-fleet")
p2.file(root + "/motd", content="hello\\n")
with p2.on_trigger("deploy") as deploy:
    p2.file(root + "/deployed", content=f"{deploy.data.get('version')} from {deploy.sender}\\n")
p2.on_trigger("restart-app", lambda t: p2.file(root + "/restarted", content=t.data["why"] + "\\n"))
'''


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with fleet_with_site(tmp_path, SITE) as running:
        yield running


def started(fleet: Fleet, hostname: str) -> FleetAgent:
    agent = fleet.agent(hostname)
    assert approved(agent, timeout=30)
    assert eventually(lambda: agent.content() == "hello\n" and len(agent.runs()) == 1, timeout=30)
    return agent


def fire(fleet: Fleet, agent: FleetAgent, *triggers: FiredTrigger) -> None:
    send_control(fleet, agent.agent.agent_id or "", Control(command="trigger",
                                                            parameters=trigger_parameters(list(triggers))))


def test_a_fired_trigger_applies_its_block_once_with_its_data(fleet: Fleet) -> None:
    agent = started(fleet, "prod-app1")
    assert not (agent.root / "deployed").exists()
    fire(fleet, agent, FiredTrigger(name="deploy", trigger_id="t1", sender="ci", data={"version": "1.2"}),
         FiredTrigger(name="restart-app", trigger_id="t2", sender="rule:openssl", data={"why": "openssl"}))
    assert eventually(lambda: len(agent.runs()) == 2, timeout=30)
    run = agent.runs()[-1]
    assert run.report.trigger == "trigger:deploy,restart-app"
    assert (agent.root / "deployed").read_text() == "1.2 from ci\n"
    assert (agent.root / "restarted").read_text() == "openssl\n"
    assert {result.id for result in run.report.results} == {
        f"file:{agent.root}/motd", f"file:{agent.root}/deployed", f"file:{agent.root}/restarted"}

    # the next run without a trigger leaves the blocks out: nothing of them is applied
    agent.agent.apply_now()
    assert eventually(lambda: len(agent.runs()) == 3, timeout=30)
    assert [result.id for result in agent.runs()[-1].report.results] == [f"file:{agent.root}/motd"]


def test_a_malformed_trigger_is_ignored_and_logged(fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    agent = started(fleet, "prod-app2")
    agent_id = agent.agent.agent_id or ""
    send_control(fleet, agent_id, Control(command="trigger", parameters={"triggers": [{"name": "two words"}]}))
    send_control(fleet, agent_id, Control(command="trigger", parameters={"triggers": []}))
    send_control(fleet, agent_id, Control(command="trigger", parameters={"triggers": "deploy"}))
    assert eventually(lambda: caplog.text.count("control 'trigger' without valid triggers ignored") == 3, timeout=15)
    # still listening: a good one after them is applied
    fire(fleet, agent, FiredTrigger(name="deploy", trigger_id="t3", data={"version": "2"}))
    assert eventually(lambda: (agent.root / "deployed").exists(), timeout=30)
    assert len(agent.runs()) == 2 and agent.agent.state == "running"
