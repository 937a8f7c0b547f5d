"""What the fleet benchmarks (bench/fleet.py, bench/triggers.py, bench/events.py) share.

The parent's side: a temp state dir, partout-nats plus `partout master` in its own process
(so its CPU and RSS can be read from /proc), worker processes that each run a slice of the
agents and print one JSON line per event, and the figures (percentiles, CPU, RSS).
The workers' side (fleet.py and triggers.py): real agents started from the worker's
hidden options, logging, and stopping them all on SIGTERM.

The benchmarks run as scripts, so bench/ is on sys.path and they `from fleetkit import ...`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from partout.agent.daemon import Agent
    from partout.nats.launcher import Backbone

T = TypeVar("T")
Event = dict[str, Any]


# -- figures --------------------------------------------------------------------------------


class ProcessStats(NamedTuple):
    cpu: float  # seconds, user + system
    rss: int  # bytes
    peak: int  # bytes, the high-water mark of the RSS


def proc_stats(pid: int) -> ProcessStats:
    """CPU seconds, RSS and peak RSS of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return ProcessStats(cpu, rss, peak)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def spread(seconds: list[float]) -> str:
    """'p50 .. ms, p99 .. ms, max .. ms' of durations in seconds (not empty)."""
    return f"p50 {ms(percentile(seconds, 0.5))}, p99 {ms(percentile(seconds, 0.99))}, max {ms(max(seconds))}"


def say(text: str) -> None:
    """A result line, flushed at once: the runs are long and read while they go."""
    print(text, flush=True)


# -- the command line: parent or worker -------------------------------------------------------


def main_or_worker(parser: argparse.ArgumentParser, name: str, worker: Callable[[argparse.Namespace], None],
                   run: Callable[[argparse.Namespace, Path], None]) -> None:
    """Parse the command line (the script's options, `--tmp` among them, and the workers' hidden
    ones); `worker(arguments)` in a worker process, else `run(arguments, directory)` in a temp dir."""
    _add_worker_arguments(parser)
    arguments = parser.parse_args()
    if arguments.worker:
        worker(arguments)
    else:
        run_in_temporary_directory(name, arguments.tmp, lambda directory: run(arguments, directory))


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The hidden options the parent passes to its agent workers (agent_worker_command)."""
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-interval", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--nats", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--master-key", help=argparse.SUPPRESS)


# -- the parent: state dir, backbone and master -------------------------------------------------


def run_in_temporary_directory(name: str, parent: str | None, run: Callable[[Path], None]) -> None:
    """`run` in a fresh private dir under `parent` (default: the system's), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"partout-bench-{name}-", dir=parent) as temporary:
        directory = Path(temporary)
        directory.chmod(0o700)
        run(directory)


def write_environment(directory: Path, site: str) -> Path:
    """The production environment with `site` as its site.p2, and the master's sample facts."""
    environment = directory / "environments" / "production"
    environment.mkdir(parents=True)
    (environment / "site.p2").write_text(site)
    (directory / "sample-facts.json").write_text(json.dumps({"hostname": "sample"}))
    return environment


class Master:
    """`partout master` in its own process, logging to <directory>/master.log."""

    def __init__(self, directory: Path, url: str, *, auto_approve: str, config: Path | None = None) -> None:
        self.log_path = directory / "master.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "partout", "master", *(["--config", str(config)] if config else []),
             "--nats", url, "--nats-state", str(directory / "nats"), "--state-dir", str(directory / "master"),
             "--environments", str(directory / "environments"), "--sample-facts", str(directory / "sample-facts.json"),
             "--auto-approve", auto_approve],
            stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid

    def stats(self) -> ProcessStats:
        return proc_stats(self.pid)

    def check(self, deadline: float, failure: str) -> None:
        """Give up (with the log's tail) when the master exited or `deadline` (monotonic) passed."""
        if self.process.poll() is not None or time.monotonic() > deadline:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{failure}:\n{tail}") from None

    def wait_until_up(self, probe: Callable[[], T], deadline: float, *, pause: float = 0.0) -> T:
        """`probe()`'s result once it stops raising (it cannot connect until the master
        answers the auth callout)."""
        while True:
            try:
                return probe()
            except Exception:
                self.check(deadline, "the master did not start")
                time.sleep(pause)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@contextmanager
def backbone_and_master(directory: Path, *, auto_approve: str,
                        config: Path | None = None) -> Iterator[tuple[Backbone, Master]]:
    """partout-nats (state in <directory>/nats) and a master on it, stopped on the way out."""
    from partout.nats.launcher import start_backbone

    backbone = start_backbone(directory / "nats", port=0, log_to_files=True)
    try:
        master = Master(directory, backbone.urls[0], auto_approve=auto_approve, config=config)
        try:
            yield backbone, master
        finally:
            master.stop()
    finally:
        backbone.stop()


# -- the parent: worker processes ------------------------------------------------------------


def worker_count(agents: int, procs: int) -> int:
    return max(1, min(procs, agents))


def slices(total: int, procs: int) -> list[tuple[int, int]]:
    """(first agent, how many) for each of `procs` workers, as even as can be."""
    counts = [total // procs + (1 if index < total % procs else 0) for index in range(procs)]
    return [(sum(counts[:index]), count) for index, count in enumerate(counts)]


def _read_events(stream: IO[str], events: queue.SimpleQueue[Event], tags: dict[str, Any]) -> None:
    for line in stream:
        try:
            events.put({**json.loads(line), **tags})
        except json.JSONDecodeError:
            continue


class WorkerPool:
    """Worker processes whose JSON lines on stdout all land in `events` (stderr: a log each)."""

    def __init__(self, directory: Path, *, stop_timeout: float = 120.0) -> None:
        self.directory = directory
        self.stop_timeout = stop_timeout
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.processes: list[subprocess.Popen[str]] = []

    def spawn(self, command: list[str], log_name: str, **tags: Any) -> None:
        """Start `command`; each event it prints gets `tags` added."""
        process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                   stderr=(self.directory / log_name).open("ab"), text=True)
        threading.Thread(target=_read_events, args=(process.stdout, self.events, tags), daemon=True).start()
        self.processes.append(process)

    def collect(self, until: Callable[[], bool], limit: float, handle: Callable[[Event], None], *,
                poll: float = 0.5) -> bool:
        """Hand every event to `handle` until `until()` holds (True) or `limit` seconds pass (False)."""
        end = time.monotonic() + limit
        while not until():
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            try:
                event = self.events.get(timeout=min(poll, remaining))
            except queue.Empty:
                continue
            handle(event)
        return True

    def rss(self) -> int:
        """The running workers' RSS, summed."""
        return sum(proc_stats(process.pid).rss for process in self.processes if process.poll() is None)

    def stop(self) -> None:
        for process in self.processes:  # signal all first: each stops its agents in parallel
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()


def start_interval(procs: int, start_rate: float) -> float:
    """Seconds between two agents' starts in one worker, for `start_rate` per second in all (0: at once)."""
    return procs / start_rate if start_rate > 0 else 0.0


def agent_worker_command(script: str, directory: Path, backbone: Backbone, first: int, count: int,
                         interval: float, *extra: str) -> list[str]:
    """`script --worker ...` running agents first..first+count-1 (see _add_worker_arguments).
    PARTOUT_BENCH_WRAPPER, when set, runs it under that script (a profiler, say)."""
    wrapper = os.environ.get("PARTOUT_BENCH_WRAPPER")
    return [sys.executable, *([wrapper] if wrapper else []), script, "--worker", "--directory", str(directory),
            "--first", str(first), "--count", str(count), "--nats", backbone.urls[0],
            "--master-key", backbone.keys.master.public, "--start-interval", str(interval), *extra]


# -- the worker: real agents -------------------------------------------------------------------


class ExtrasFormatter(logging.Formatter):
    """Shows the `extra=` fields Partout logs with (the error of a retry, the agent...)."""

    STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        extras = {key: value for key, value in vars(record).items() if key not in self.STANDARD}
        return super().format(record) + (f" {extras}" if extras else "")


def worker_setup() -> Callable[..., None]:
    """Warnings to stderr (the worker's log), `kill -USR1 <worker>` dumps every thread's stack;
    returns `emit(**event)`, which prints one JSON line for the parent (thread-safe)."""
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ExtrasFormatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    output = threading.Lock()

    def emit(**event: Any) -> None:
        with output:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()

    return emit


def bench_agent(arguments: argparse.Namespace, name: str, custom: dict[str, str], *, watch: bool = False,
                on_report: Callable[[Any], None], on_policy: Callable[[int], None] | None = None) -> Agent:
    """A real agent named `name` with its state and root under the worker's directory (not started);
    `custom` facts besides `root`."""
    from partout.agent.config import AgentConfig
    from partout.agent.daemon import Agent
    from partout.facts import Facts

    base = Path(arguments.directory)
    root = base / "roots" / name
    root.mkdir(parents=True, exist_ok=True)
    facts = Facts.model_validate({"hostname": name, "custom": {"root": str(root), **custom}})
    config = AgentConfig(servers=tuple(arguments.nats), state_dir=base / "agents" / name, hostname=name,
                         facts=facts, master_key=arguments.master_key, interval=3600, watch=watch,
                         enrol_interval=0.5, enrol_max_interval=2.0, request_timeout=10.0)
    return Agent(config, on_report=on_report, on_policy=on_policy)


def serve_until_signalled(agents: list[Agent]) -> None:
    """Block until SIGTERM or SIGINT, then stop every agent."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    for agent in agents:
        agent._stopping.set()  # signal all first: stopping 250 agents one by one is slow
    for agent in agents:
        agent.stop(timeout=10)
