"""Data-driven re-application, end to end (issue 13): a real nats-server, master and agents.

Load balancers' policy reads the web nodes with `p2.nodes("role == 'web'")` into a file.
Adding a web node (enrol, operator approval), changing a web node's facts and revoking one
re-apply exactly the load balancers, whose file then lists the backends; the other agents
run nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fleetenv import Fleet, FleetAgent, approved, fleet_with_site
from helpers import eventually, run_partout
from inventory_support import SITE, WINDOW, backends, start_agent, write_facts

from partout.master.daemon import Master


def counts(agents: list[FleetAgent]) -> dict[str, int]:
    return {agent.root.name: len(agent.runs()) for agent in agents}


def settled(master: Master, lbs: list[FleetAgent]) -> bool:
    """Every data-changed the master sent has become a reported run (a run writes its file
    before its report is in)."""
    runs = sum(1 for lb in lbs for run in lb.runs() if run.report.trigger == "data-changed")
    return runs == tracker_sent(master)


def tracker_sent(master: Master) -> int:
    ref = master.child("dependencies")
    assert ref is not None
    sent: int = ref.proxy().sent.get(timeout=5)
    return sent


@pytest.fixture
def fleet(tmp_path: Path) -> Any:
    with fleet_with_site(tmp_path, SITE, data_changed_window=WINDOW) as fleet:
        yield fleet


def test_web_nodes_joining_changing_and_leaving_reapply_exactly_the_load_balancers(fleet: Fleet) -> None:
    assert fleet.master is not None
    lbs = [start_agent(fleet, name, role="lb") for name in ("prod-lb1", "prod-lb2")]
    web1 = start_agent(fleet, "prod-web1", role="web", port=80)
    db1 = start_agent(fleet, "prod-db1", role="db")
    for agent in (*lbs, web1, db1):
        assert approved(agent, timeout=30)
    assert eventually(lambda: all(backends(lb) == "server prod-web1:80\n" for lb in lbs), timeout=30)
    assert eventually(lambda: all(agent.runs() for agent in (web1, db1)), timeout=30)
    assert eventually(lambda: settled(fleet.master, lbs))
    others = [web1, db1]
    before, sent = counts(others), tracker_sent(fleet.master)

    # a new web node enrols, waits, and an operator approves it
    web2 = start_agent(fleet, "web-new", role="web", port=8080)
    assert eventually(lambda: any(agent["hostname"] == "web-new" for agent in fleet.operator.agents("pending")),
                      timeout=30)
    lb_runs = counts(lbs)
    fleet.operator.approve("web-new", "production")
    expected = "server prod-web1:80\nserver web-new:8080\n"
    assert eventually(lambda: all(backends(lb) == expected for lb in lbs), timeout=20)
    assert all(run.report.trigger == "data-changed" for lb in lbs for run in lb.runs()[lb_runs[lb.root.name]:])
    assert eventually(lambda: tracker_sent(fleet.master) == sent + len(lbs))
    assert eventually(lambda: settled(fleet.master, lbs))
    assert approved(web2, timeout=30)
    assert counts(others) == before, "an agent whose answers did not change ran"
    others.append(web2)

    # a web node's facts change (its port), and it publishes them with its next run
    write_facts(fleet, "prod-web1", role="web", port=8000)
    before = counts(others)
    web1.agent.apply_now()
    assert eventually(lambda: all(backends(lb) == "server prod-web1:8000\nserver web-new:8080\n" for lb in lbs),
                      timeout=20)
    assert eventually(lambda: tracker_sent(fleet.master) == sent + 2 * len(lbs))
    assert eventually(lambda: settled(fleet.master, lbs))
    assert eventually(lambda: counts(others) == {**before, "prod-web1": before["prod-web1"] + 1})  # its own run

    # facts that no answer reads change: the tracker checks, and tells nobody
    write_facts(fleet, "prod-db1", role="db", rack="r2")
    lb_runs, checks = counts(lbs), tracker_checks(fleet.master)
    db1.agent.apply_now()
    assert eventually(lambda: tracker_checks(fleet.master) > checks, timeout=20)
    assert tracker_sent(fleet.master) == sent + 2 * len(lbs)
    assert counts(lbs) == lb_runs

    # a burst of changes (the store writes of several facts updates in a row) is one re-apply
    web1_id, sent = web1.agent.agent_id or "", tracker_sent(fleet.master)
    for port in (8001, 8002, 8003, 8004, 8005):
        fleet.master.store.put_facts(web1_id, {"hostname": "prod-web1", "custom": {
            "root": str(web1.root), "role": "web", "port": port}})
    assert eventually(lambda: all(backends(lb) == "server prod-web1:8005\nserver web-new:8080\n" for lb in lbs),
                      timeout=20)
    assert eventually(lambda: settled(fleet.master, lbs))
    # one per load balancer (two if the writes straddled the tracker's gathering of changes)
    assert tracker_sent(fleet.master) - sent in (len(lbs), 2 * len(lbs))
    sent = tracker_sent(fleet.master)

    # an operator revokes a web node: it leaves the backends
    before = counts(others)
    fleet.operator.revoke("web-new")
    assert eventually(lambda: all(backends(lb) == "server prod-web1:8005\n" for lb in lbs), timeout=20)
    assert eventually(lambda: tracker_sent(fleet.master) == sent + len(lbs))
    assert {name: count for name, count in counts(others).items() if name != "web-new"} == {
        name: count for name, count in before.items() if name != "web-new"}

    # a load balancer stops being one: its policy asks nothing now, and the master forgets it
    lb1, lb2 = lbs
    lb2_id, sent = lb2.agent.agent_id or "", tracker_sent(fleet.master)
    write_facts(fleet, "prod-lb2", role="app")
    lb2.agent.apply_now()
    assert eventually(lambda: fleet.master is not None and fleet.master.store.dependencies(lb2_id) == [], timeout=20)
    lb_runs = counts(lbs)
    fleet.master.store.put_facts(web1_id, {"hostname": "prod-web1", "custom": {
        "root": str(web1.root), "role": "web", "port": 9000}})
    assert eventually(lambda: backends(lb1) == "server prod-web1:9000\n", timeout=20)
    assert eventually(lambda: tracker_sent(fleet.master) == sent + 1)
    assert eventually(lambda: counts(lbs) == {**lb_runs, "prod-lb1": lb_runs["prod-lb1"] + 1})
    assert backends(lb2) == "server prod-web1:8005\n"  # left as it was: no longer managed there

    shown = fleet.operator.call("agents.show", id="prod-lb1")
    assert [(entry["query"], entry["fields"]) for entry in shown["dependencies"]] == [
        ('facts.custom.role == "web"', ["hostname", "port"])]  # the canonical text
    assert shown["dependencies"][0]["changed_at"] is not None


def tracker_checks(master: Master | None) -> int:
    assert master is not None
    ref = master.child("dependencies")
    assert ref is not None
    checks: int = ref.proxy().checks.get(timeout=5)
    return checks


def test_operators_query_the_inventory_from_the_command_line(fleet: Fleet) -> None:
    assert fleet.master is not None
    web = start_agent(fleet, "prod-web1", role="web", port=80)
    db = start_agent(fleet, "prod-db1", role="db")
    lb = start_agent(fleet, "prod-lb1", role="lb")
    for agent in (web, db, lb):
        assert approved(agent, timeout=30)
    options = fleet.operator_args()

    result = run_partout("facts-of", "--where", "role in ['web', 'db']", "--fields", "hostname,role,port",
                         "--json", *options)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"hostname": "prod-db1", "role": "db", "port": None},
                                         {"hostname": "prod-web1", "role": "web", "port": 80}]
    table = run_partout("facts-of", "--where", "port >= 80", "--fields", "hostname,port", *options)
    assert table.returncode == 0, table.stderr
    assert table.stdout.split() == ["HOSTNAME", "PORT", "prod-web1", "80"]

    listed = run_partout("agents", "list", "--where", "role == 'lb' or hostname =~ '^prod-d'", "--json", *options)
    assert listed.returncode == 0, listed.stderr
    assert sorted(agent["hostname"] for agent in json.loads(listed.stdout)) == ["prod-db1", "prod-lb1"]

    unknown = run_partout("agents", "list", "--where", "rakc == 'r1'", *options)
    assert unknown.returncode == 0, unknown.stderr
    assert unknown.stdout.strip() == "no agents"
    assert "warning: no node has 'rakc'" in unknown.stderr

    # refused before any connection: the parser's message and a caret under the column
    bad = run_partout("facts-of", "--where", "role == = 'web'", "--nats", "nats://127.0.0.1:1")
    assert bad.returncode == 2
    assert "column 9" in bad.stderr and bad.stderr.splitlines()[-1] == "          ^"
    assert run_partout("agents", "list", "--where", "role ==", "--nats", "nats://127.0.0.1:1").returncode == 2

    assert eventually(lambda: (lb.root / "backends").exists(), timeout=20)
    shown = run_partout("agents", "show", "prod-lb1", *options)
    assert shown.returncode == 0, shown.stderr
    assert 'p2.nodes(facts.custom.role == "web") fields hostname, port: asked 20' in shown.stdout


def test_up_serves_the_webfarm_example_with_a_second_local_agent(tmp_path: Path) -> None:
    directory = tmp_path / "up"
    process = subprocess.Popen(
        [sys.executable, "-m", "partout", "up", "--state-dir", str(directory), "--port", "0", "--example", "webfarm",
         "--role", "lb", "--extra-agent", "web"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        haproxy = directory / "managed" / "haproxy.cfg"
        assert eventually(lambda: haproxy.exists() and "-web-1:80 check" in haproxy.read_text(), timeout=60)
        assert eventually((directory / "managed-web-1" / "index.html").exists, timeout=30)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr


def test_up_refuses_an_unknown_example(tmp_path: Path) -> None:
    result = run_partout("up", "--state-dir", str(tmp_path / "up"), "--port", "0", "--example", "nope")
    assert result.returncode == 1
    assert "no example environment 'nope'; known:" in result.stderr and "webfarm" in result.stderr
    assert not (tmp_path / "up" / "nats").exists()
