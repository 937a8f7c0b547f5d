"""Events through a real `partout master` process: `partout events` shows what a simulated
agent sent (safely for a terminal), `--follow` prints new ones as the master republishes
them, and a master killed with SIGKILL for 30 s while batches keep coming loses none of them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import Fleet, MasterProcess, running_fleet
from helpers import eventually, run_partout

sys.path.insert(0, str(Path(__file__).parent.parent / "master"))

from event_agent import SimulatedAgent, enrolled_agent, repairs  # noqa: E402

OUTAGE = 30.0  # seconds the master stays dead while the storm goes on (the figure)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Fleet, MasterProcess]]:
    with running_fleet(tmp_path, master=False) as running:
        master = MasterProcess(running)
        master.start()
        try:
            yield running, master
        finally:
            master.stop()


def simulated_agent(fleet: Fleet, hostname: str = "prod-sim") -> SimulatedAgent:
    """An agent identity auto-approved by the master process (prod-* rule)."""
    return enrolled_agent(fleet.urls, fleet.directory, hostname)


def stored_total(fleet: Fleet, agent_id: str) -> int:
    shown = run_partout("events", "--agent", agent_id, "--json", *fleet.operator_args())
    if shown.returncode != 0:
        return -1
    return int(json.loads(shown.stdout)["totals"]["count"])


def test_partout_events_shows_and_follows_what_an_agent_sent(fleet: tuple[Fleet, MasterProcess]) -> None:
    running, _ = fleet
    agent = simulated_agent(running)
    try:
        hostile_title = "/etc/\x1b[2J\x1b]0;owned\x07motd"
        agent.send(agent.batch(leaves=repairs(3, title=hostile_title, message="repaired\nforged line")))
        assert eventually(lambda: stored_total(running, agent.agent_id) == 3, timeout=30)

        shown = run_partout("events", "--agent", agent.agent_id, "--since", "1h", *running.operator_args())
        assert shown.returncode == 0, shown.stderr
        assert "RECEIVED" in shown.stdout and "total 3 events" in shown.stdout
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
        assert "\\x1b[2J" in shown.stdout and "repaired\\x0aforged line" in shown.stdout

        empty = run_partout("events", "--agent", agent.agent_id, "--status", "failed", "--json",
                            *running.operator_args())
        assert empty.returncode == 0 and json.loads(empty.stdout)["events"] == []
        unknown = run_partout("events", "--agent", "no-such-agent", *running.operator_args())
        assert unknown.returncode != 0 and "no-such-agent" in unknown.stderr
        bad_since = run_partout("events", "--since", "yesterday", *running.operator_args())
        assert bad_since.returncode == 2 and "--since" in bad_since.stderr

        follower = subprocess.Popen(
            [sys.executable, "-m", "partout", "events", "--follow", "--json", "--agent", agent.agent_id,
             *running.operator_args()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        try:
            def followed() -> bool:
                agent.send(agent.batch(leaves=repairs(1, module="service", title="nginx", message="restarted")))
                return bool(lines)

            assert eventually(followed, timeout=30, interval=0.5), follower.stderr
            event = json.loads(lines[0])
            assert (event["agent_id"], event["module"], event["status"], event["count"]) == (
                agent.agent_id, "service", "changed", 1)
        finally:
            follower.terminate()
            follower.wait(timeout=10)
    finally:
        agent.stop()


@pytest.mark.slow
def test_a_master_killed_while_batches_keep_coming_loses_none(fleet: tuple[Fleet, MasterProcess]) -> None:
    running, master = fleet
    agent = simulated_agent(running)
    stop = threading.Event()
    sent: list[int] = []

    def keep_sending() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            agent.send(agent.batch(count % 7 + 1))
            sent.append(count)
            stop.wait(0.02)

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    try:
        assert eventually(lambda: stored_total(running, agent.agent_id) > 0, timeout=30)
        master.kill()  # SIGKILL: whatever it took and did not acknowledge is delivered again
        killed_at, before = time.monotonic(), len(sent)
        # the storm goes on through the whole outage
        assert eventually(lambda: time.monotonic() - killed_at >= OUTAGE and len(sent) >= before + 50,
                          timeout=OUTAGE + 30, interval=0.5)
        master.start()
        assert eventually(lambda: stored_total(running, agent.agent_id) > 0, timeout=60)
        stop.set()
        sender.join(timeout=30)
        assert eventually(lambda: stored_total(running, agent.agent_id) == agent.published, timeout=60), (
            stored_total(running, agent.agent_id), agent.published)
    finally:
        stop.set()
        agent.stop()
