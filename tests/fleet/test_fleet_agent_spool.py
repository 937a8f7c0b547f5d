"""The agent's offline spool against a real partout-nats: with the bus down, reports and
event batches go to `<state_dir>/spool.db`; when it is back they arrive in order, each
once, and the event count received is the count made at the source. Also across a
kill -9 of the agent while the bus is down, and across a kill -9 before the period ends
(the counts not yet in a batch wait in `<state_dir>/events-pending.db`)."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agent_events_support import batches, events_fleet, message_ids, pending_counts, reports, results, spooled
from fleetenv import TOKEN, Fleet, approved
from helpers import eventually, stop_process

from partout import subjects
from partout.agent.config import EventSettings
from partout.agent.credentials import Credentials
from partout.events.wire import EventBatch


def assert_chained(found: list[EventBatch]) -> None:
    """Batches in stream order cover one period after the other: sent, and stored, in order."""
    for earlier, later in zip(found, found[1:]):
        assert later.period_start == earlier.period_end, (earlier, later)


@pytest.mark.slow
def test_with_the_bus_down_reports_and_events_are_spooled_then_drained_in_order(tmp_path: Path) -> None:
    with events_fleet(tmp_path) as fleet:
        agent = fleet.agent("prod-offline", events=EventSettings(period=1, splay=0.0))
        agent_id = ""
        assert approved(agent, timeout=30)
        agent_id = agent.agent.agent_id or ""
        assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) == 1, timeout=30)
        assert eventually(lambda: sum(b.count for b in batches(fleet, agent_id)) == 1, timeout=30)

        node = fleet.backbone.nodes[0]
        node.stop()
        for number in range(4):
            before = len(agent.runs())
            agent.motd.write_text(f"offline drift {number}\n")
            assert eventually(lambda: agent.content() == "production 1\n" and len(agent.runs()) > before, timeout=30)
        made = agent.runs()
        # on disk while the bus is down: every offline report, and their events once the period ended
        assert eventually(lambda: spooled(agent.agent.config.state_dir) == (len(made) - 1, results(made[1:])),
                          timeout=30), spooled(agent.agent.config.state_dir)

        node.start()
        assert eventually(lambda: len(reports(fleet, agent_id)) == len(made), timeout=60)
        assert eventually(lambda: sum(b.count for b in batches(fleet, agent_id)) == results(made), timeout=60)
        assert eventually(lambda: spooled(agent.agent.config.state_dir) == (0, 0), timeout=30)
        assert [r.report_id for r in reports(fleet, agent_id)] == [r.report_id for r in made]  # in order, once
        stored = batches(fleet, agent_id)
        assert len({b.batch_id for b in stored}) == len(stored)
        assert_chained(stored)


class AgentProcess:
    """A `partout agent` process with an agent.toml, logging to agent.log; `start` again after a kill."""

    def __init__(self, fleet: Fleet, directory: Path, hostname: str, config_text: str) -> None:
        self.fleet = fleet
        self.hostname = hostname
        self.config = directory / "agent.toml"
        self.config.write_text(config_text)
        self.state_dir = fleet.agent_config(hostname).state_dir
        self.motd = directory / "roots" / hostname / "motd"
        self.log_path = directory / "agent.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        settings = self.fleet.agent_config(self.hostname)
        command = [sys.executable, "-m", "partout", "agent", "--config", str(self.config), "--nats",
                   self.fleet.urls[0], "--state-dir", str(settings.state_dir), "--hostname", self.hostname,
                   "--facts", str(settings.facts_file), "--token", TOKEN, "--master-key", str(settings.master_key),
                   "--enrol-interval", "0.1"]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def first_run(self) -> str:
        """Start, wait for the first run's report (then it watches); the agent id."""
        self.start()
        assert eventually(lambda: self.motd.read_text() == "production 1\n", timeout=60), self.log()
        agent_id = Credentials.load(self.state_dir).agent_id or ""
        assert eventually(lambda: len(reports(self.fleet, agent_id)) == 1, timeout=30)
        return agent_id

    def kill_9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.mark.slow
def test_a_killed_agent_sends_what_it_spooled_while_the_bus_was_down(tmp_path: Path) -> None:
    with events_fleet(tmp_path) as fleet:
        agent = AgentProcess(fleet, tmp_path, "anyhost-killed",
                             "[agent]\ninterval = 3600\n[agent.events]\nperiod = 1\nsplay = 0.0\n")
        state_dir, motd = agent.state_dir, agent.motd
        try:
            agent_id = agent.first_run()

            node = fleet.backbone.nodes[0]
            node.stop()
            for number in range(3):  # repairs while nothing can be sent
                motd.write_text(f"offline drift {number}\n")
                assert eventually(lambda: motd.read_text() == "production 1\n", timeout=30)
                assert eventually(lambda n=number: spooled(state_dir)[0] == n + 1, timeout=30)
            assert eventually(lambda: spooled(state_dir)[1] >= 3, timeout=30)  # their events, batched
            assert (state_dir / "spool.db").stat().st_mode & 0o777 == 0o600
            agent.kill_9()
            killed_at = datetime.now(UTC)

            node.start()
            agent.start()
            assert eventually(lambda: spooled(state_dir) == (0, 0), timeout=60), agent.log()

            def arrived() -> bool:
                stored = reports(fleet, agent_id)
                repairs = [r for r in stored if r.report.trigger == "watch"]
                return len(repairs) == 3 and sum(b.count for b in batches(fleet, agent_id)) == results(stored)

            assert eventually(arrived, timeout=60, interval=0.2), agent.log()
            ids = message_ids(fleet, subjects.REPORTS_STREAM, subjects.agent_report(agent_id))
            assert len(ids) == len(set(ids))  # none twice
            event_ids = message_ids(fleet, subjects.EVENTS_STREAM, subjects.agent_events(agent_id))
            assert len(event_ids) == len(set(event_ids))
            # the first process's batches (the first run's, then the spooled ones) one after the other
            assert_chained([batch for batch in batches(fleet, agent_id) if batch.sent_at < killed_at])
        finally:
            agent.stop()


@pytest.mark.slow
def test_counts_not_yet_in_a_batch_survive_a_kill_9_of_the_agent(tmp_path: Path) -> None:
    with events_fleet(tmp_path) as fleet:
        # a period far longer than the test: nothing is batched before the kill
        agent = AgentProcess(fleet, tmp_path, "anyhost-pending",
                             "[agent]\ninterval = 3600\n[agent.events]\nperiod = 3600\nsplay = 0.0\n")
        state_dir, motd = agent.state_dir, agent.motd
        try:
            agent_id = agent.first_run()
            for number in range(3):
                motd.write_text(f"drift {number}\n")
                assert eventually(lambda n=number: motd.read_text() == "production 1\n"  # type: ignore[misc]
                                  and len(reports(fleet, agent_id)) >= n + 2, timeout=30), (
                    motd.read_text(), len(reports(fleet, agent_id)), agent.log()[-2000:])
            made = reports(fleet, agent_id)
            # every count made is on disk, and none in a batch yet
            assert eventually(lambda: pending_counts(state_dir) == results(made), timeout=30), agent.log()
            assert batches(fleet, agent_id) == []
            assert (state_dir / "events-pending.db").stat().st_mode & 0o777 == 0o600
            agent.kill_9()
            agent.start()
            # the cut-short period goes out at once, as one batch, and is stored
            assert eventually(lambda: sum(b.count for b in batches(fleet, agent_id)) == results(made), timeout=60,
                              interval=0.2), agent.log()
            assert eventually(lambda: fleet.operator.events(agent=agent_id)["totals"]["count"] == results(made),
                              timeout=30)
            assert len(batches(fleet, agent_id)) == 1

            # and the new process's own counts at its stop: the stream holds each count made, once
            assert eventually(lambda: len(reports(fleet, agent_id)) > len(made), timeout=60)
            agent.stop()
            assert eventually(lambda: sum(b.count for b in batches(fleet, agent_id)) ==
                              results(reports(fleet, agent_id)), timeout=30)
            event_ids = message_ids(fleet, subjects.EVENTS_STREAM, subjects.agent_events(agent_id))
            assert len(event_ids) == len(set(event_ids))
            assert pending_counts(state_dir) == 0
        finally:
            agent.stop()
