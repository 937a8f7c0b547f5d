"""Data-driven re-application at fleet scale: N real agents, of which `--lbs` load balancers
whose policy reads `p2.nodes("role == 'web'")`; then a new web node enrols (auto-approved).

Printed: the time until every load balancer has re-applied (its `data-changed` run's report),
p50 / p99 / max, measured from the web node's start (connect + enrol + approval included) and
from its approval reaching it; and how many other agents re-applied (must be 0).

    python3 bench/triggers.py --agents 200 --lbs 100     # what a shared 2-core machine allows
    python3 bench/triggers.py --agents 1000 --procs 4

Agents run in `--procs` worker processes (bench/fleet.py's way), the master in its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).parent))

from fleetkit import (Event, WorkerPool, agent_worker_command, backbone_and_master,  # noqa: E402
                      bench_agent, main_or_worker, mb, say, serve_until_signalled, slices, spread,
                      start_interval, worker_count, worker_setup, write_environment)

if TYPE_CHECKING:
    from partout.agent.daemon import Agent
    from partout.nats.launcher import Backbone

SITE = """
root = facts.custom.get("root", "/tmp/partout-bench")
if facts.custom.get("role") == "lb":
    backends = p2.nodes("role == 'web'", fields=["hostname"])
    p2.file(root + "/backends", content="".join(node["hostname"] + "\\n" for node in backends))
p2.file(root + "/motd", content="hello\\n")
"""


def worker(arguments: argparse.Namespace) -> None:
    emit = worker_setup()
    agents: list[Agent] = []
    for index in range(arguments.first, arguments.first + arguments.count):
        role = arguments.role or ("lb" if index < arguments.lbs else "app")

        def on_report(report: Any, index: int = index, role: str = role) -> None:
            emit(agent=index, role=role, at=time.time(), trigger=report.report.trigger, failed=report.report.failed)

        agent = bench_agent(arguments, f"{role}-{index:05d}", {"role": role}, on_report=on_report)
        emit(starting=index, at=time.time())
        agent.start()
        agents.append(agent)
        time.sleep(arguments.start_interval)
    if arguments.role:  # the new node: say when its approval reached it
        while agents and agents[0].agent_id is None:
            time.sleep(0.002)
        emit(approved=arguments.first, at=time.time())
    emit(started=arguments.count, at=time.time())
    serve_until_signalled(agents)


class Fleet:
    """The parent's view: worker processes and the reports and marks they print."""

    def __init__(self, arguments: argparse.Namespace, directory: Path, backbone: Backbone) -> None:
        self.arguments, self.directory, self.backbone = arguments, directory, backbone
        self.pool = WorkerPool(directory)
        self.reports: list[Event] = []
        self.marks: dict[str, float] = {}

    def spawn(self, first: int, count: int, *, role: str = "", interval: float = 0.0) -> None:
        self.pool.spawn(agent_worker_command(__file__, self.directory, self.backbone, first, count, interval,
                                             "--lbs", str(self.arguments.lbs), "--role", role), f"worker-{first}.log")

    def collect(self, until: Callable[[], bool], limit: float) -> bool:
        return self.pool.collect(until, limit, self._note)

    def _note(self, event: Event) -> None:
        if "trigger" in event:
            self.reports.append(event)
        elif "approved" in event:
            self.marks["approved"] = event["at"]
        elif "starting" in event and event["starting"] == self.arguments.agents:
            self.marks["web-start"] = event["at"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--lbs", type=int, default=100, help="how many of the agents are load balancers")
    parser.add_argument("--procs", type=int, default=4, help="worker processes running the agents")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to watch for stray re-applies")
    parser.add_argument("--start-rate", type=float, default=200.0, help="agents started per second in all")
    parser.add_argument("--tmp", help="where state dirs go (default: the system temp dir)")
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)
    main_or_worker(parser, "triggers", worker, run)


def run(arguments: argparse.Namespace, directory: Path) -> None:
    total, procs = arguments.agents, worker_count(arguments.agents, arguments.procs)
    write_environment(directory, SITE)
    with backbone_and_master(directory, auto_approve="*=production") as (backbone, master):
        fleet = Fleet(arguments, directory, backbone)
        try:
            say(f"triggers bench: {total} agents ({arguments.lbs} load balancers) in {procs} processes, "
                f"master pid {master.pid}, state under {directory}")
            for first, count in slices(total, procs):
                fleet.spawn(first, count, interval=start_interval(procs, arguments.start_rate))
            started = time.time()

            def first_runs() -> int:
                return len({event["agent"] for event in fleet.reports})

            if not fleet.collect(lambda: first_runs() >= total, arguments.timeout):
                say(f"only {first_runs()}/{total} agents applied in {arguments.timeout:.0f} s; see the logs in "
                    f"{directory}")
                return
            say(f"enrol + approve + first apply of {total} agents: {time.time() - started:.1f} s")
            # quiet: the load balancers' data-changed runs from agents enrolling after them are over
            fleet.collect(lambda: False, arguments.settle)
            before = len(fleet.reports)
            cpu_before = master.stats().cpu
            fleet.spawn(total, 1, role="web")  # the new web node
            lbs = set(range(min(arguments.lbs, total)))

            def lbs_done() -> set[int]:
                return {event["agent"] for event in fleet.reports[before:]
                        if event["agent"] in lbs and event["trigger"] == "data-changed"}

            complete = fleet.collect(lambda: lbs_done() == lbs, arguments.timeout)
            fleet.collect(lambda: False, arguments.settle)  # any stray re-apply shows up meanwhile
            after = fleet.reports[before:]
            first_lb: dict[int, float] = {}
            for event in after:
                if event["agent"] in lbs and event["trigger"] == "data-changed":
                    first_lb.setdefault(event["agent"], event["at"])
            others = [event for event in after if event["agent"] not in lbs and event["agent"] != total]
            lb_runs = sum(1 for event in after if event["agent"] in lbs)
            start, approved = fleet.marks.get("web-start", started), fleet.marks.get("approved", started)
            times = sorted(first_lb.values())
            if times:
                say(f"new web node -> {len(times)}/{len(lbs)} load balancers re-applied: from its start "
                    f"{spread([at - start for at in times])}; from its approval {spread([at - approved for at in times])}")
            if not complete:
                say(f"stopped waiting: only {len(times)} of {len(lbs)} load balancers re-applied")
            cpu, rss, peak = master.stats()
            say(f"other agents that re-applied: {len(others)} (must be 0); load balancer runs: {lb_runs} "
                f"(one each expected); master {cpu - cpu_before:.2f} s CPU for it, RSS {mb(rss)} (peak {mb(peak)})")
        finally:
            fleet.pool.stop()


if __name__ == "__main__":
    main()
