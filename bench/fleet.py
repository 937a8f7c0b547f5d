"""A fleet on one machine: N real agents against one partout-nats and one master.

Each agent is the real `partout.agent.daemon.Agent` with its own nkey, NATS connection,
state dir and temp root, applying a one-file policy. Agents run in `--procs` worker
processes (N/procs agents each); the master is `partout master` in its own process so
its CPU time and RSS can be read from /proc. Measured:

- enrol + auto-approve + first apply of all N (from the workers' start);
- policy edit -> applied on every agent: latency per agent, from the moment the master
  published the new bundle in the KV (and from the file save, which adds the master's
  debounce and compile), p50 / p99 / max;
- master CPU seconds and RSS (current and peak).

    python3 bench/fleet.py --agents 50            # quick
    python3 bench/fleet.py --agents 1000 --procs 4

Agents do not watch files here (--watch to turn it on): each watching agent adds an
inotify instance, and the default limit (fs.inotify.max_user_instances=128) is per user.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetkit import (Event, WorkerPool, agent_worker_command, backbone_and_master, bench_agent, main_or_worker, mb,
                      ms, percentile, say, serve_until_signalled, slices, spread, start_interval, worker_count,
                      worker_setup, write_environment)

if TYPE_CHECKING:
    from partout.agent.daemon import Agent

SITE = 'p2.file(facts.custom.get("root", "/tmp/partout-bench") + "/motd", content={content!r})\n'


# -- worker process: runs a slice of the agents and prints one JSON line per event ------------


def worker(arguments: argparse.Namespace) -> None:
    emit = worker_setup()
    agents: list[Agent] = []
    for index in range(arguments.first, arguments.first + arguments.count):

        def on_report(report: Any, index: int = index) -> None:
            emit(agent=index, sequence=report.sequence, at=time.time(), failed=report.report.failed,
                 trigger=report.report.trigger)

        def on_policy(revision: int, index: int = index) -> None:
            emit(agent=index, received=revision, at=time.time())

        agent = bench_agent(arguments, f"bench-{index:05d}", {}, watch=arguments.watch,
                            on_report=on_report, on_policy=on_policy)
        agent.start()
        agents.append(agent)
        time.sleep(arguments.start_interval)
    emit(started=arguments.count, at=time.time())
    serve_until_signalled(agents)


# -- the parent: backbone, master, workers, measurements ----------------------------------


class PolicyClock:
    """Notes when the master puts each new bundle in the policy KV (a master-keyed subscription)."""

    def __init__(self, backbone: Any) -> None:
        from partout import subjects
        from partout.bus.facade import Bus
        from partout.bus.messages import BusOptions

        self.published: dict[int, float] = {}
        self._bus = Bus.start(BusOptions(servers=tuple(backbone.urls), name="bench-clock",
                                         seed_file=backbone.keys.master.path))
        try:
            self._bus.subscribe(subjects.policy_kv_subject("production"), self._on_value).get(timeout=5)
        except BaseException:
            self._bus.stop()
            raise

    def current(self) -> int:
        """The sequence in the KV now (0: none yet), noted as published now if unseen."""
        from partout import subjects

        entry = self._bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key("production")).get(timeout=10)
        return self._note(entry.value) if entry is not None and entry.value else 0

    def _on_value(self, message: Any) -> None:
        self._note(message.data)

    def _note(self, data: bytes) -> int:
        try:
            sequence = int(json.loads(json.loads(data)["manifest"])["sequence"])
        except (ValueError, KeyError, TypeError):
            return 0
        self.published.setdefault(sequence, time.time())
        return sequence

    def stop(self) -> None:
        self._bus.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=4, help="worker processes running the agents")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting after this many seconds")
    parser.add_argument("--watch", action="store_true", help="agents also watch their file (inotify each)")
    parser.add_argument("--tmp", help="where the agents' state dirs and roots go (default: the system temp dir); "
                        "/dev/shm takes the shared disk's fsyncs out, as if each agent had its own machine")
    parser.add_argument("--start-rate", type=float, default=200.0,
                        help="agents started per second in all (a fleet does not boot in the same millisecond; "
                        "0: all at once)")
    main_or_worker(parser, "fleet", worker, run)


def run(arguments: argparse.Namespace, directory: Path) -> None:
    total, procs = arguments.agents, worker_count(arguments.agents, arguments.procs)
    environment = write_environment(directory, SITE.format(content="version 1\n"))
    with backbone_and_master(directory, auto_approve="bench-*=production") as (backbone, master):
        pool = WorkerPool(directory)
        clock: PolicyClock | None = None
        try:
            deadline = time.monotonic() + 60
            clock = master.wait_until_up(lambda: PolicyClock(backbone), deadline)
            while (initial := clock.current()) == 0:  # the master is up once it published the environment
                time.sleep(0.05)
                master.check(deadline, "the master did not publish the environment in 60 s")
                time.sleep(0.05)
            cpu_idle, rss_idle, _ = master.stats()
            say(f"fleet bench: {total} agents in {procs} processes, started at {arguments.start_rate:.0f}/s, "
                f"state under {directory}, master pid {master.pid} (idle: {cpu_idle:.2f} s CPU, {mb(rss_idle)} RSS)")
            started = time.time()
            for first, count in slices(total, procs):
                pool.spawn(agent_worker_command(__file__, directory, backbone, first, count,
                                                start_interval(procs, arguments.start_rate),
                                                *(["--watch"] if arguments.watch else [])), f"worker-{first}.log")
            applied: dict[int, dict[int, float]] = {}  # sequence -> agent -> time applied
            received: dict[int, dict[int, float]] = {}  # KV revision -> agent -> time the bundle arrived
            failed = 0

            def note(event: Event) -> None:
                nonlocal failed
                if "received" in event:
                    received.setdefault(event["received"], {}).setdefault(event["agent"], event["at"])
                elif "agent" in event:
                    failed += bool(event["failed"])
                    applied.setdefault(event["sequence"], {}).setdefault(event["agent"], event["at"])

            complete = pool.collect(lambda: len(applied.get(initial, {})) >= total, arguments.timeout, note, poll=1.0)
            enrolled = len(applied.get(initial, {}))
            elapsed = max(applied.get(initial, {started: started}).values()) - started
            cpu_enrol, rss_enrol, _ = master.stats()
            say(f"enrol + approve + first apply: {enrolled}/{total} agents in {elapsed:.2f} s "
                f"({enrolled / max(elapsed, 1e-9):.0f} agents/s); master {cpu_enrol - cpu_idle:.2f} s CPU, "
                f"{mb(rss_enrol)} RSS")
            if not complete:
                say(f"stopped waiting after {arguments.timeout:.0f} s: only {enrolled} agents applied; "
                    f"see {directory}/worker-*.log and master.log")
            rounds = []
            for version in (2, 3):
                before = max(clock.published)
                saved = time.time()
                (environment / "site.p2").write_text(SITE.format(content=f"version {version}\n"))
                end = time.monotonic() + 60
                while max(clock.published) == before and time.monotonic() < end:
                    time.sleep(0.01)
                sequence = max(clock.published)
                pool.collect(lambda: len(applied.get(sequence, {})) >= enrolled, arguments.timeout, note, poll=1.0)
                times = applied.get(sequence, {})
                published = clock.published.get(sequence, saved)
                from_publish = [at - published for at in times.values()]
                from_save = [at - saved for at in times.values()]
                arrived = received.get(max(received), {}) if received else {}
                from_publish_received = [at - published for at in arrived.values()]
                if from_publish_received:
                    say(f"policy {sequence}: bundle received by {len(arrived)} agents; from KV publish "
                        f"{spread(from_publish_received)} (distribution, before verify and apply)")
                if from_publish:
                    rounds.append(from_publish)
                    say(f"policy {sequence}: applied on {len(times)}/{enrolled} agents; from KV publish "
                        f"{spread(from_publish)}; from file save p50 {ms(percentile(from_save, 0.5))}, "
                        f"max {ms(max(from_save))} (master debounce + compile + sign {ms(published - saved)})")
            cpu, rss, peak = master.stats()
            worker_rss = pool.rss()
            say(f"master: {cpu:.2f} s CPU in total, RSS {mb(rss)} (peak {mb(peak)}); "
                f"agent workers RSS {mb(worker_rss)} in total "
                f"({worker_rss / max(enrolled, 1) / 2**20:.1f} MB per agent); failed runs: {failed}")
            if rounds:
                everything = [value for values in rounds for value in values]
                say(f"summary: {enrolled} agents, publish->applied p50 {ms(statistics.median(everything))}, "
                    f"p99 {ms(percentile(everything, 0.99))}, max {ms(max(everything))}; master RSS peak {mb(peak)}")
        finally:
            pool.stop()
            if clock is not None:
                clock.stop()


if __name__ == "__main__":
    main()
