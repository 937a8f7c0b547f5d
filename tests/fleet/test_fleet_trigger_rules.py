"""A master rule turns a real agent's event into a trigger for other real agents: the db
node's policy changes its openssl.conf, the event reaches the master in the agent's event
batch, and the app nodes apply their `p2.on_trigger("restart-app")` block with the rule's
data; the same event from a node that is not a db fires nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_events_support import STEADY
from fleetenv import Fleet, FleetAgent, fleet_with_site
from helpers import eventually
from inventory_support import started_with_role, written

from partout.agent.config import EventSettings
from partout.master.trigger_rules import TriggerRule

SITE = '''
root = facts.custom.get("root", "/tmp/partout-fleet")
p2.file(root + "/motd", content="hello\\n")
if facts.custom.get("role") in ("db", "web"):
    p2.file(root + "/openssl.conf", content="openssl 3\\n")
with p2.on_trigger("restart-app") as restart:
    p2.file(root + "/restarted", content=f"{restart.data.get('reason')} from {restart.sender}\\n")
'''
# the agents batch each second from their start (the master's advice comes after a first batch)
QUICK_EVENTS = EventSettings(period=1.0, splay=0.0)
RULE = TriggerRule.model_validate({"name": "openssl-restarts-app", "event": "file:*/openssl.conf:changed",
                                   "from": "role == 'db'", "trigger": "restart-app", "where": "role == 'app'",
                                   "data": {"reason": "openssl updated"}})


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with fleet_with_site(tmp_path, SITE, events=STEADY, trigger_rules=(RULE,), trigger_window=0.3) as running:
        yield running


def restarted(agent: FleetAgent) -> str | None:
    return written(agent, "restarted")


def test_a_db_nodes_event_fires_the_rule_on_the_app_nodes_and_a_web_nodes_does_not(fleet: Fleet) -> None:
    app = started_with_role(fleet, "prod-app1", "app", events=QUICK_EVENTS)
    web = started_with_role(fleet, "prod-web1", "web", events=QUICK_EVENTS)
    web_id = web.agent.agent_id or ""

    def stored_change(agent_id: str) -> bool:
        events = fleet.operator.events(agent=agent_id, module="file", status="changed")["events"]
        return any(str(event.get("title", "")).endswith("/openssl.conf") for event in events)

    assert eventually(lambda: stored_change(web_id), timeout=30)
    fleet.operator.trigger("fence", f"id == '{app.agent.agent_id}'")  # handled after the web node's hit
    assert eventually(lambda: any(run.report.trigger == "trigger:fence" for run in app.runs()), timeout=30)
    assert restarted(app) is None

    db = started_with_role(fleet, "prod-db1", "db", events=QUICK_EVENTS)
    assert eventually(lambda: restarted(app) == "openssl updated from rule:openssl-restarts-app\n", timeout=30)
    # the run writes the file before its report is in
    assert eventually(lambda: any(run.report.trigger == "trigger:restart-app" for run in app.runs()), timeout=30)
    assert restarted(db) is None and restarted(web) is None
    [listed] = [entry for entry in fleet.operator.events()["triggers"] if entry["name"] == "restart-app"]
    assert listed["sender"] == "rule:openssl-restarts-app" and listed["reached"] == [app.agent.agent_id]
