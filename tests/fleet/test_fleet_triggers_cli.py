"""`partout trigger` and `partout events` as an operator runs them, against a real
partout-nats, master and agents: the trigger reaches exactly the agents `--where` selects,
which apply their `p2.on_trigger` blocks with `--data`; `partout events` lists it with its
sender and the agents it reached; an integration's seed (`--key`) fires one with the
trigger role and cannot with the reader role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import Fleet, FleetAgent, fleet_with_site
from helpers import eventually, run_partout
from inventory_support import started_with_role, written
from triggerenv import add_integration


SITE = '''
root = facts.custom.get("root", "/tmp/partout-fleet")
p2.file(root + "/motd", content="hello\\n")
with p2.on_trigger("deploy") as deploy:
    p2.file(root + "/deployed", content=f"{deploy.data.get('version')} from {deploy.sender}\\n")
'''


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with fleet_with_site(tmp_path, SITE) as running:
        yield running


def deployed(agent: FleetAgent) -> str | None:
    return written(agent, "deployed")


def test_partout_trigger_reaches_the_matching_agents_and_partout_events_lists_it(fleet: Fleet) -> None:
    app1, app2, db1 = started_with_role(fleet, "prod-app1", "app"), started_with_role(fleet, "prod-app2", "app"), started_with_role(fleet, "prod-db1", "db")
    apps = sorted(agent.agent.agent_id or "" for agent in (app1, app2))
    result = run_partout("trigger", "deploy", "--where", "role == 'app'", "--data", '{"version": "3.1"}',
                         *fleet.operator_args(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("trigger deploy reached 2 agents: ") and all(id_ in result.stdout for id_ in apps)
    operator = f"operator {fleet.operator.public_key[:8]}"
    for agent in (app1, app2):
        assert eventually(lambda: deployed(agent) == f"3.1 from {operator}\n", timeout=30), deployed(agent)
        assert agent.runs()[-1].report.trigger == "trigger:deploy"
    assert deployed(db1) is None and len(db1.runs()) == 1

    shown = run_partout("events", *fleet.operator_args(), timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("TIME")))
    assert lines[header].split() == ["TIME", "TRIGGER", "SENDER", "STATUS", "WHERE", "REACHED", "REASON"]
    row = lines[header + 1]
    assert "deploy" in row and operator in row and "fired" in row and "2: " in row and apps[0] in row
    listed = json.loads(run_partout("events", "--agent", apps[0], "--json", *fleet.operator_args(),
                                    timeout=60).stdout)["triggers"]
    assert [(entry["name"], entry["sender"], sorted(entry["reached"])) for entry in listed] == [
        ("deploy", operator, apps)]

    answered = json.loads(run_partout("trigger", "deploy", "--where", "colour == 'red'", "--json",
                                      *fleet.operator_args(), timeout=60).stdout)
    assert answered["reached"] == [] and "colour" in " ".join(answered["warnings"])
    refused = run_partout("trigger", "deploy", "--where", "role ==", *fleet.operator_args(), timeout=60)
    assert refused.returncode == 1 and "column" in refused.stderr


def test_an_integration_key_fires_with_the_trigger_role_and_not_with_the_reader_role(fleet: Fleet) -> None:
    app1 = started_with_role(fleet, "prod-app1", "app")
    trigger_seed, _ = add_integration(fleet.operator, fleet.directory, "ci", "trigger")
    reader_seed, _ = add_integration(fleet.operator, fleet.directory, "dashboard", "reader")
    fired = run_partout("trigger", "deploy", "--key", str(trigger_seed), "--data", '{"version": "4"}',
                        "--nats", fleet.urls[0], timeout=60)
    assert fired.returncode == 0 and "reached 1 agent: " in fired.stdout, fired.stderr
    assert eventually(lambda: deployed(app1) == "4 from ci\n", timeout=30)
    runs = len(app1.runs())
    denied = run_partout("trigger", "deploy", "--key", str(reader_seed), "--nats", fleet.urls[0], timeout=60)
    # said at once, from the server's refusal, not after waiting out the answer's timeout
    assert denied.returncode == 1 and "NATS refused this key's publish to partout.trigger.deploy" in denied.stderr, \
        denied.stderr
    assert len(app1.runs()) == runs


@pytest.mark.parametrize("arguments, message", [
    (["deploy", "--data", "[1]"], "--data"), (["deploy", "--data", "{nope"], "--data"), (["a.b"], "NAME")])
def test_bad_arguments_are_refused_naming_the_option(arguments: list[str], message: str) -> None:
    result = run_partout("trigger", *arguments, "--nats", "nats://127.0.0.1:1", timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr
