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
import json
import logging
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from fleet import ExtrasFormatter, _reader, percentile, proc_stats  # noqa: E402

SITE = """
root = facts.custom.get("root", "/tmp/partout-bench")
if facts.custom.get("role") == "lb":
    backends = p2.nodes("role == 'web'", fields=["hostname"])
    p2.file(root + "/backends", content="".join(node["hostname"] + "\\n" for node in backends))
p2.file(root + "/motd", content="hello\\n")
"""


def worker(arguments: argparse.Namespace) -> None:
    from partout.agent.config import AgentConfig
    from partout.agent.daemon import Agent
    from partout.facts import Facts

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ExtrasFormatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    output = threading.Lock()

    def emit(**event: Any) -> None:
        with output:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()

    base = Path(arguments.directory)
    agents: list[Agent] = []
    for index in range(arguments.first, arguments.first + arguments.count):
        role = arguments.role or ("lb" if index < arguments.lbs else "app")
        name = f"{role}-{index:05d}"
        root = base / "roots" / name
        root.mkdir(parents=True, exist_ok=True)
        facts = Facts.model_validate({"hostname": name, "custom": {"root": str(root), "role": role}})
        config = AgentConfig(servers=tuple(arguments.nats), state_dir=base / "agents" / name, hostname=name,
                             facts=facts, master_key=arguments.master_key, interval=3600, watch=False,
                             enrol_interval=0.5, enrol_max_interval=2.0, request_timeout=10.0)

        def on_report(report: Any, index: int = index, role: str = role) -> None:
            emit(agent=index, role=role, at=time.time(), trigger=report.report.trigger, failed=report.report.failed)

        agent = Agent(config, on_report=on_report)
        emit(starting=index, at=time.time())
        agent.start()
        agents.append(agent)
        time.sleep(arguments.start_interval)
    if arguments.role:  # the new node: say when its approval reached it
        while agents and agents[0].agent_id is None:
            time.sleep(0.002)
        emit(approved=arguments.first, at=time.time())
    emit(started=arguments.count, at=time.time())
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    for agent in agents:
        agent._stopping.set()
    for agent in agents:
        agent.stop(timeout=10)


class Fleet:
    """The parent's view: worker processes and the events they print."""

    def __init__(self, arguments: argparse.Namespace, directory: Path, url: str, master_key: str) -> None:
        self.arguments, self.directory, self.url, self.master_key = arguments, directory, url, master_key
        self.events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.workers: list[subprocess.Popen[str]] = []
        self.reports: list[dict[str, Any]] = []
        self.marks: dict[str, float] = {}

    def spawn(self, first: int, count: int, *, role: str = "", start_interval: float = 0.0) -> None:
        process = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--directory", str(self.directory), "--first", str(first),
             "--count", str(count), "--nats", self.url, "--master-key", self.master_key, "--lbs",
             str(self.arguments.lbs), "--role", role, "--start-interval", str(start_interval)],
            stdout=subprocess.PIPE, stderr=(self.directory / f"worker-{first}.log").open("ab"), text=True)
        threading.Thread(target=_reader, args=(process.stdout, self.events), daemon=True).start()
        self.workers.append(process)

    def collect(self, until: Any, limit: float) -> bool:
        end = time.monotonic() + limit
        while not until():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            try:
                event = self.events.get(timeout=min(0.5, remaining))
            except queue.Empty:
                continue
            if "trigger" in event:
                self.reports.append(event)
            elif "approved" in event:
                self.marks["approved"] = event["at"]
            elif "starting" in event and event["starting"] == self.arguments.agents:
                self.marks["web-start"] = event["at"]
        return True

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--lbs", type=int, default=100, help="how many of the agents are load balancers")
    parser.add_argument("--procs", type=int, default=4, help="worker processes running the agents")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to watch for stray re-applies")
    parser.add_argument("--start-rate", type=float, default=200.0, help="agents started per second in all")
    parser.add_argument("--tmp", help="where state dirs go (default: the system temp dir)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)
    parser.add_argument("--start-interval", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--nats", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--master-key", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
        return
    with tempfile.TemporaryDirectory(prefix="partout-bench-triggers-", dir=arguments.tmp) as temporary:
        run(arguments, Path(temporary))


def run(arguments: argparse.Namespace, directory: Path) -> None:
    from partout.nats.launcher import start_backbone

    directory.chmod(0o700)
    total, procs = arguments.agents, max(1, min(arguments.procs, arguments.agents))
    environment = directory / "environments" / "production"
    environment.mkdir(parents=True)
    (environment / "site.p2").write_text(SITE)
    (directory / "sample-facts.json").write_text(json.dumps({"hostname": "sample"}))
    backbone = start_backbone(directory / "nats", port=0, log_to_files=True)
    master_log = (directory / "master.log").open("ab")
    master = subprocess.Popen(
        [sys.executable, "-m", "partout", "master", "--nats", backbone.urls[0], "--nats-state", str(directory / "nats"),
         "--state-dir", str(directory / "master"), "--environments", str(directory / "environments"),
         "--sample-facts", str(directory / "sample-facts.json"), "--auto-approve", "*=production"],
        stdout=master_log, stderr=master_log, stdin=subprocess.DEVNULL)
    fleet = Fleet(arguments, directory, backbone.urls[0], backbone.keys.master.public)
    try:
        print(f"triggers bench: {total} agents ({arguments.lbs} load balancers) in {procs} processes, "
              f"master pid {master.pid}, state under {directory}", flush=True)
        per_worker = [total // procs + (1 if index < total % procs else 0) for index in range(procs)]
        first = 0
        for count in per_worker:
            fleet.spawn(first, count, start_interval=procs / arguments.start_rate if arguments.start_rate > 0 else 0)
            first += count
        started = time.time()

        def first_runs() -> int:
            return len({event["agent"] for event in fleet.reports})

        if not fleet.collect(lambda: first_runs() >= total, arguments.timeout):
            print(f"only {first_runs()}/{total} agents applied in {arguments.timeout:.0f} s; see the logs in "
                  f"{directory}", flush=True)
            return
        print(f"enrol + approve + first apply of {total} agents: {time.time() - started:.1f} s", flush=True)
        # quiet: the load balancers' data-changed runs from agents enrolling after them are over
        fleet.collect(lambda: False, arguments.settle)
        before = len(fleet.reports)
        cpu_before = proc_stats(master.pid)[0]
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
            from_start = [at - start for at in times]
            from_approval = [at - approved for at in times]
            print(f"new web node -> {len(times)}/{len(lbs)} load balancers re-applied: from its start "
                  f"p50 {percentile(from_start, 0.5) * 1000:.0f} ms, p99 {percentile(from_start, 0.99) * 1000:.0f} ms, "
                  f"max {max(from_start) * 1000:.0f} ms; from its approval p50 "
                  f"{percentile(from_approval, 0.5) * 1000:.0f} ms, p99 {percentile(from_approval, 0.99) * 1000:.0f} ms, "
                  f"max {max(from_approval) * 1000:.0f} ms", flush=True)
        if not complete:
            print(f"stopped waiting: only {len(times)} of {len(lbs)} load balancers re-applied", flush=True)
        cpu, rss, peak = proc_stats(master.pid)
        print(f"other agents that re-applied: {len(others)} (must be 0); load balancer runs: {lb_runs} "
              f"(one each expected); master {cpu - cpu_before:.2f} s CPU for it, RSS {rss / 2**20:.0f} MB "
              f"(peak {peak / 2**20:.0f} MB)", flush=True)
    finally:
        fleet.stop()
        master.terminate()
        try:
            master.wait(timeout=30)
        except subprocess.TimeoutExpired:
            master.kill()
        master_log.close()
        backbone.stop()


if __name__ == "__main__":
    main()
