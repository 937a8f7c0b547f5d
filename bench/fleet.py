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
import logging
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

SITE = 'p2.file(facts.custom.get("root", "/tmp/partout-bench") + "/motd", content={content!r})\n'


# -- worker process: runs a slice of the agents and prints one JSON line per event ------------


class ExtrasFormatter(logging.Formatter):
    """Shows the `extra=` fields Partout logs with (the error of a retry, the agent...)."""

    STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        extras = {key: value for key, value in vars(record).items() if key not in self.STANDARD}
        return super().format(record) + (f" {extras}" if extras else "")


def worker(arguments: argparse.Namespace) -> None:
    from partout.agent.config import AgentConfig
    from partout.agent.daemon import Agent
    from partout.facts import Facts

    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <worker>`: every thread's stack
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
        name = f"bench-{index:05d}"
        root = base / "roots" / name
        root.mkdir(parents=True, exist_ok=True)
        facts = Facts.model_validate({"hostname": name, "custom": {"root": str(root)}})
        config = AgentConfig(servers=tuple(arguments.nats), state_dir=base / "agents" / name, hostname=name,
                             facts=facts, master_key=arguments.master_key, interval=3600, watch=arguments.watch,
                             enrol_interval=0.5, enrol_max_interval=2.0, request_timeout=10.0)

        def on_report(report: Any, index: int = index) -> None:
            emit(agent=index, sequence=report.sequence, at=time.time(), failed=report.report.failed,
                 trigger=report.report.trigger)

        def on_policy(revision: int, index: int = index) -> None:
            emit(agent=index, received=revision, at=time.time())

        agent = Agent(config, on_report=on_report, on_policy=on_policy)
        agent.start()
        agents.append(agent)
        time.sleep(arguments.start_interval)
    emit(started=arguments.count, at=time.time())
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    for agent in agents:
        agent._stopping.set()  # signal all first: stopping 250 agents one by one is slow
    for agent in agents:
        agent.stop(timeout=10)


# -- the parent: backbone, master, workers, measurements ----------------------------------


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, peak RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, rss, peak


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _reader(stream: IO[str], events: queue.SimpleQueue[dict[str, Any]]) -> None:
    for line in stream:
        try:
            events.put(json.loads(line))
        except json.JSONDecodeError:
            continue


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
    parser.add_argument("--start-interval", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--nats", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--master-key", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
        return
    with tempfile.TemporaryDirectory(prefix="partout-bench-fleet-", dir=arguments.tmp) as temporary:
        run(arguments, Path(temporary))


def run(arguments: argparse.Namespace, directory: Path) -> None:
    from partout.nats.launcher import start_backbone

    directory.chmod(0o700)
    total, procs = arguments.agents, max(1, min(arguments.procs, arguments.agents))
    environment = directory / "environments" / "production"
    environment.mkdir(parents=True)
    (environment / "site.p2").write_text(SITE.format(content="version 1\n"))
    (directory / "sample-facts.json").write_text(json.dumps({"hostname": "sample"}))
    backbone = start_backbone(directory / "nats", port=0, log_to_files=True)
    master_log = (directory / "master.log").open("ab")
    master = subprocess.Popen(
        [sys.executable, "-m", "partout", "master", "--nats", backbone.urls[0], "--nats-state", str(directory / "nats"),
         "--state-dir", str(directory / "master"), "--environments", str(directory / "environments"),
         "--sample-facts", str(directory / "sample-facts.json"), "--auto-approve", "bench-*=production"],
        stdout=master_log, stderr=master_log, stdin=subprocess.DEVNULL)
    workers: list[subprocess.Popen[str]] = []
    clock: PolicyClock | None = None
    events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    try:
        deadline = time.monotonic() + 60
        while clock is None:  # its connection is refused until the master answers the auth callout
            try:
                clock = PolicyClock(backbone)
            except Exception:
                if master.poll() is not None or time.monotonic() > deadline:
                    log_tail = (directory / "master.log").read_text(errors="replace")[-3000:]
                    raise SystemExit(f"the master did not start:\n{log_tail}") from None
        while (initial := clock.current()) == 0:  # the master is up once it published the environment
            time.sleep(0.05)
            if master.poll() is not None or time.monotonic() > deadline:
                log_tail = (directory / "master.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"the master did not publish the environment in 60 s:\n{log_tail}")
            time.sleep(0.05)
        cpu_idle, rss_idle, _ = proc_stats(master.pid)
        print(f"fleet bench: {total} agents in {procs} processes, started at {arguments.start_rate:.0f}/s, "
              f"state under {directory}, master pid {master.pid} "
              f"(idle: {cpu_idle:.2f} s CPU, {rss_idle / 2**20:.0f} MB RSS)", flush=True)
        started = time.time()
        per_worker = [total // procs + (1 if index < total % procs else 0) for index in range(procs)]
        first = 0
        for count in per_worker:
            process = subprocess.Popen(
                [sys.executable, *([os.environ["PARTOUT_BENCH_WRAPPER"]] if os.environ.get("PARTOUT_BENCH_WRAPPER") else []),
                 __file__, "--worker", "--directory", str(directory), "--first", str(first),
                 "--count", str(count), "--nats", backbone.urls[0], "--master-key", backbone.keys.master.public,
                 "--start-interval", str(procs / arguments.start_rate if arguments.start_rate > 0 else 0.0),
                 *(["--watch"] if arguments.watch else [])],
                stdout=subprocess.PIPE, stderr=(directory / f"worker-{first}.log").open("ab"), text=True)
            threading.Thread(target=_reader, args=(process.stdout, events), daemon=True).start()
            workers.append(process)
            first += count
        applied: dict[int, dict[int, float]] = {}  # sequence -> agent -> time applied
        received: dict[int, dict[int, float]] = {}  # KV revision -> agent -> time the bundle arrived
        failed = 0

        def collect(until: Any, limit: float) -> bool:
            nonlocal failed
            end = time.monotonic() + limit
            while not until():
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    event = events.get(timeout=min(1.0, remaining))
                except queue.Empty:
                    continue
                if "received" in event:
                    received.setdefault(event["received"], {}).setdefault(event["agent"], event["at"])
                elif "agent" in event:
                    failed += bool(event["failed"])
                    applied.setdefault(event["sequence"], {}).setdefault(event["agent"], event["at"])
            return True

        complete = collect(lambda: len(applied.get(initial, {})) >= total, arguments.timeout)
        enrolled = len(applied.get(initial, {}))
        elapsed = max(applied.get(initial, {started: started}).values()) - started
        cpu_enrol, rss_enrol, _ = proc_stats(master.pid)
        print(f"enrol + approve + first apply: {enrolled}/{total} agents in {elapsed:.2f} s "
              f"({enrolled / max(elapsed, 1e-9):.0f} agents/s); master {cpu_enrol - cpu_idle:.2f} s CPU, "
              f"{rss_enrol / 2**20:.0f} MB RSS", flush=True)
        if not complete:
            print(f"stopped waiting after {arguments.timeout:.0f} s: only {enrolled} agents applied; "
                  f"see {directory}/worker-*.log and master.log", flush=True)
        rounds = []
        for version in (2, 3):
            before = max(clock.published)
            saved = time.time()
            (environment / "site.p2").write_text(SITE.format(content=f"version {version}\n"))
            end = time.monotonic() + 60
            while max(clock.published) == before and time.monotonic() < end:
                time.sleep(0.01)
            sequence = max(clock.published)
            collect(lambda s=sequence: len(applied.get(s, {})) >= enrolled, arguments.timeout)
            times = applied.get(sequence, {})
            published = clock.published.get(sequence, saved)
            from_publish = [at - published for at in times.values()]
            from_save = [at - saved for at in times.values()]
            arrived = received.get(max(received), {}) if received else {}
            from_publish_received = [at - published for at in arrived.values()]
            if from_publish_received:
                print(f"policy {sequence}: bundle received by {len(arrived)} agents; from KV publish p50 "
                      f"{percentile(from_publish_received, 0.5) * 1000:.0f} ms, p99 "
                      f"{percentile(from_publish_received, 0.99) * 1000:.0f} ms, "
                      f"max {max(from_publish_received) * 1000:.0f} ms (distribution, before verify and apply)",
                      flush=True)
            if from_publish:
                rounds.append(from_publish)
                print(f"policy {sequence}: applied on {len(times)}/{enrolled} agents; from KV publish "
                      f"p50 {percentile(from_publish, 0.5) * 1000:.0f} ms, p99 {percentile(from_publish, 0.99) * 1000:.0f} ms, "
                      f"max {max(from_publish) * 1000:.0f} ms; from file save p50 "
                      f"{percentile(from_save, 0.5) * 1000:.0f} ms, max {max(from_save) * 1000:.0f} ms "
                      f"(master debounce + compile + sign {(published - saved) * 1000:.0f} ms)", flush=True)
        cpu, rss, peak = proc_stats(master.pid)
        worker_rss = sum(proc_stats(process.pid)[1] for process in workers if process.poll() is None)
        print(f"master: {cpu:.2f} s CPU in total, RSS {rss / 2**20:.0f} MB (peak {peak / 2**20:.0f} MB); "
              f"agent workers RSS {worker_rss / 2**20:.0f} MB in total "
              f"({worker_rss / max(enrolled, 1) / 2**20:.1f} MB per agent); failed runs: {failed}", flush=True)
        if rounds:
            everything = [value for values in rounds for value in values]
            print(f"summary: {enrolled} agents, publish->applied p50 {statistics.median(everything) * 1000:.0f} ms, "
                  f"p99 {percentile(everything, 0.99) * 1000:.0f} ms, max {max(everything) * 1000:.0f} ms; "
                  f"master RSS peak {peak / 2**20:.0f} MB", flush=True)
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
        if clock is not None:
            clock.stop()
        master.terminate()
        try:
            master.wait(timeout=30)
        except subprocess.TimeoutExpired:
            master.kill()
        master_log.close()
        backbone.stop()


if __name__ == "__main__":
    main()
