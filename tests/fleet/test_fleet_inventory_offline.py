"""`p2.nodes` while the master is away: the last answer the master gave stands in (with a
warning), so a load balancer keeps its backends instead of failing its run; an agent that
never had an answer fails the compile, naming why; a refusal is never answered from the cache."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import Fleet, FleetAgent, approved, fleet_with_site
from helpers import eventually
from inventory_support import SITE, WINDOW, backends, start_agent

from partout.agent.daemon import Agent
from partout.agent.nodes_cache import ANSWERS_FILE
from partout.report import Status


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with fleet_with_site(tmp_path, SITE, data_changed_window=WINDOW) as fleet:
        yield fleet


def test_with_the_master_away_the_last_answer_stands_in(fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout")
    lb = start_agent(fleet, "prod-lb1", role="lb")
    web = start_agent(fleet, "prod-web1", role="web", port=80)
    assert approved(lb, timeout=30) and approved(web, timeout=30)
    assert eventually(lambda: backends(lb) == "server prod-web1:80\n", timeout=30)
    cache = lb.agent.config.state_dir / ANSWERS_FILE
    assert eventually(lambda: cache.exists() and "prod-web1" in cache.read_text(), timeout=10)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600  # other nodes' facts
    assert list(json.loads(cache.read_text())["answers"]) == ['["role == \'web\'",["hostname","port"],"environment"]']

    fleet.stop_master()
    runs = len(lb.runs())
    lb.agent.apply_now()
    assert eventually(lambda: len(lb.runs()) > runs, timeout=30)
    report = lb.runs()[-1].report
    assert not report.failed, [result.summary for result in report.results]
    assert backends(lb) == "server prod-web1:80\n"
    assert "p2.nodes: the master cannot answer; using its answer of" in caplog.text

    # started again while the master (hence its NATS login) is away, it applies from the
    # cache, and applies again with the master's answers once it is connected
    lb.agent.stop()
    again = FleetAgent(Agent(lb.agent.config), lb.root)
    fleet.agents.append(again)
    again.agent.start()
    assert eventually(lambda: bool(again.runs()), timeout=30)
    assert not again.runs()[0].report.failed
    fleet.start_master()
    assert eventually(lambda: any(run.report.trigger == "data-changed" and not run.report.failed
                                  for run in again.runs()), timeout=30)
    fleet.stop_master()

    # an agent that has no answer cached cannot make one up: its compile fails, saying why
    again.agent.stop()
    cache.unlink()
    again = FleetAgent(Agent(lb.agent.config), lb.root)
    fleet.agents.append(again)
    again.agent.start()
    assert eventually(lambda: bool(again.runs()), timeout=30)
    failed = again.runs()[-1].report
    assert failed.failed and any(result.status is Status.FAILED and "no earlier answer to this query is cached"
                                 in result.summary for result in failed.results)
    assert backends(again) == "server prod-web1:80\n"  # left as it was


def test_a_refusal_is_not_answered_from_the_cache(fleet: Fleet) -> None:
    lb = start_agent(fleet, "prod-lb3", role="lb")
    start_agent(fleet, "prod-web3", role="web", port=81)
    assert approved(lb, timeout=30)
    assert eventually(lambda: backends(lb) == "server prod-web3:81\n", timeout=30)
    # scope="all" is refused by this master: the cached environment answer is not used for it
    (fleet.environments / "production" / "site.p2").write_text(SITE.replace('"port"])', '"port"], scope="all")'))
    assert eventually(lambda: any(run.report.failed and any("the master refused" in result.summary
                                                             for result in run.report.results)
                                  for run in lb.runs()), timeout=30)
    assert backends(lb) == "server prod-web3:81\n"
