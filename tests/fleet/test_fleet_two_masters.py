"""Two `partout master` processes on one backbone and one SQLite store share the work in
queue groups (callout, enrolment, facts, operator API, policy updates) and one durable
report consumer. A policy change seen by both is published once; one master killed with
SIGKILL while it holds reports it has not acknowledged loses nothing: the other stores
them, answers enrolments and operators, admits new connections and publishes policies."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleetenv import Fleet, FleetAgent, MasterProcess, approved, running_fleet, site
from helpers import eventually, run_partout
from policyhistory import one_content_per_sequence, policy_history

from partout import subjects
from partout.master.daemon import REPORTS_CONSUMER

pytestmark = pytest.mark.slow


def _stored_report_ids(store: Path) -> set[str]:
    with sqlite3.connect(store) as connection:
        return {row[0] for row in connection.execute("select report_id from reports")}


def _reported(agents: list[FleetAgent]) -> set[str]:
    return {report.report_id for agent in agents for report in agent.runs()}


class Inspector:
    """A connection as the master identity, opened while both masters run (a new connection
    needs the callout, which a stopped master may be asked to answer), to read the report
    consumer's state."""

    def __init__(self, fleet: Fleet) -> None:
        import nats

        self._loop = asyncio.new_event_loop()
        seed = str(fleet.nats_state / "keys" / "master.nk")
        self._connection = self._loop.run_until_complete(
            nats.connect(fleet.urls, nkeys_seed=seed, name="fleet-test-inspector", connect_timeout=5))

    def unacknowledged(self) -> int:
        """Reports delivered to a master and not acknowledged yet."""
        jetstream = self._connection.jetstream()
        info = self._loop.run_until_complete(jetstream.consumer_info(subjects.REPORTS_STREAM, REPORTS_CONSUMER))
        return int(info.num_ack_pending or 0)

    def close(self) -> None:
        self._loop.run_until_complete(self._connection.close())
        self._loop.close()


@pytest.fixture
def two_masters(tmp_path: Path) -> Iterator[tuple[Fleet, list[MasterProcess], Path]]:
    with running_fleet(tmp_path, master=False) as fleet:
        store = tmp_path / "shared" / "store.sqlite"
        config = tmp_path / "master.toml"
        # reports a dead master held come back after a second, not the default ten
        config.write_text(f'[master]\nnats_state = "{fleet.nats_state}"\nreport_ack_wait = 1.0\ndebounce = 0.05\n')
        masters = [MasterProcess(fleet, name, ("--store", str(store), "--config", str(config)))
                   for name in ("master-a", "master-b")]
        try:
            for master in masters:
                master.start()
            for master in masters:
                assert eventually(lambda m=master: m.times_started() == 1, timeout=90), \
                    master.log_file.read_text(errors="replace")[-3000:]
            yield fleet, masters, store
        finally:
            for master in masters:
                assert master.process is not None
                if master.process.poll() is None:
                    master.process.send_signal(signal.SIGCONT)
                master.stop()


def _stop_with_unacknowledged_reports(inspector: Inspector, victim: MasterProcess, agents: list[FleetAgent]) -> None:
    """Freeze `victim` (SIGSTOP) and make reports until some are delivered to it and wait
    unacknowledged: the state a master dies in mid-ingest."""
    assert victim.process is not None
    for attempt in range(8):
        victim.process.send_signal(signal.SIGSTOP)
        before = [len(agent.runs()) for agent in agents]
        for agent in agents:  # drift: each repair is a report, fetched by either master
            agent.motd.write_text(f"drift {attempt}\n")
        for agent, count in zip(agents, before):
            assert eventually(lambda a=agent, c=count: len(a.runs()) > c and a.content() == "production 2\n",
                              timeout=30)
        if eventually(lambda: inspector.unacknowledged() > 0, timeout=3):
            return
        victim.process.send_signal(signal.SIGCONT)  # it got none this time: let it run and try again
        assert eventually(lambda: inspector.unacknowledged() == 0, timeout=30)
    raise AssertionError("the frozen master was never handed a report")


def test_two_masters_share_the_work_and_one_killed_loses_nothing(two_masters: Any) -> None:
    fleet, (victim, survivor), store = two_masters
    agents = [fleet.agent(f"prod-{number}", master_key=None) for number in range(1, 4)]
    for agent in agents:
        assert approved(agent, timeout=60)
        assert eventually(lambda a=agent: a.content() == "production 1\n" and len(a.runs()) >= 1, timeout=30)

    # one environment changed under both masters at once: both watchers rebuild it, one
    # publish lands and the other master accepts it
    fleet.write_policy("production", "production 2\n")
    for agent in agents:
        assert eventually(lambda a=agent: a.content() == "production 2\n", timeout=60)
    master_seed = fleet.nats_state / "keys" / "master.nk"
    history = policy_history(fleet.urls, master_seed, "production")
    assert one_content_per_sequence(history), [(entry.revision, entry.sequence) for entry in history]
    assert [entry.site for entry in history].count(site("production 2\n")) == 1

    inspector = Inspector(fleet)
    try:
        _stop_with_unacknowledged_reports(inspector, victim, agents)
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)

        # the reports the dead master held are redelivered to the survivor and stored
        assert eventually(lambda: _stored_report_ids(store) >= _reported(agents), timeout=60)
        assert eventually(lambda: inspector.unacknowledged() == 0, timeout=30)
    finally:
        inspector.close()

    # the survivor admits a new connection (callout), enrols it and it gets the policy
    newcomer = fleet.agent("prod-new", master_key=None)
    assert approved(newcomer, timeout=60)
    assert eventually(lambda: newcomer.content() == "production 2\n", timeout=30)
    # it answers operators (a new connection too)
    listed = run_partout("agents", "list", "--json", *fleet.operator_args())
    assert listed.returncode == 0, listed.stderr
    assert sorted(entry["hostname"] for entry in json.loads(listed.stdout)) == [
        "prod-1", "prod-2", "prod-3", "prod-new"]
    # it publishes policies alone, and stores what follows
    fleet.write_policy("production", "production 3\n")
    everyone = [*agents, newcomer]
    for agent in everyone:
        assert eventually(lambda a=agent: a.content() == "production 3\n", timeout=60)
    assert eventually(lambda: _stored_report_ids(store) >= _reported(everyone), timeout=60)
    history = policy_history(fleet.urls, master_seed, "production")
    assert one_content_per_sequence(history)
    assert survivor.process is not None and survivor.process.poll() is None
