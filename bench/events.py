"""Event storm: N simulated agents -> one real partout-nats -> one real `partout master`.

    python3 bench/events.py --agents 10000 [--procs 2] [--duration 300]
    python3 bench/events.py --agents 100 --identity enrolled --duration 120

What is real: nats-server with Partout's accounts and auth callout (partout-nats), the
`partout master` process (event ingest from the JetStream stream, throttle, SQLite store,
partout.node.* republish), and on the agents' side the real `partout.events` Aggregator
(period, splay, levels, alive message) and Spool (when a publish is not acknowledged),
publishing real EventBatch JSON with message id = batch id and obeying the Advice the master
sends on each agent's control subject.

What is simulated (bench/events_agents.py): the agents are plain objects, hundreds to
thousands per worker process, not the agent daemon; their events are drawn at the storm's
rate (fleet-wide events per minute, rising, holding, falling, then calm). Identity:
`--identity enrolled` (default up to 200 agents) enrols every agent with its own nkey and
gives it its own connection with an agent's permissions; `--identity shared` (default
above) puts the agents on `--connections` connections per worker that authenticate with the
master's own nkey from the NATS state dir, because 10,000 connections do not fit beside the
master on a 2-core machine. The master still sees 10,000 agent ids on 10,000 subjects: its
throttle measures each agent and the fleet, and its advice goes to 10,000 control subjects,
each subscribed by its agent.

Time is compressed so that a storm fits in minutes: the throttle's numbers (periods,
window, alive period) are written to the master's config and printed; the original's
thresholds (500 / 2000 / 5000 / 10000 events per minute) are kept.

Printed every --every seconds: the storm's target rate, events per minute ingested (read
from the store), the P and level the agents were advised (how many at each), the master's
CPU (share of one core) and RSS from /proc. At the end: events generated at the source, acked
by the stream, still spooled, and the sum of counts in the store (the operator API's events
totals): lost must be 0.

Two things the figures show (not bench artefacts to hide): every simulated agent starts
at the same instant, and the Aggregator's alive message has no splay, so the whole fleet's
first alive messages arrive in the same second (the CPU spike one alive period in); and
while the fleet's rate moves, P changes at almost every look, so the throttle re-advises
every agent (bounded by advice_min_gap): most of the master's CPU in the calm that
follows a storm is that advice traffic.
"""

from __future__ import annotations

import argparse
import json
import queue
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from fleetkit import (Master, WorkerPool, backbone_and_master, mb, run_in_temporary_directory, say, slices,
                      worker_count, write_environment)

BENCH_CONFIG = """\
[master]
nats_state = {nats_state}

[master.events]
advice_interval = 2.0
advice_min_gap = 4.0
advice_per_look = 5000

[master.events.throttle]
splay = 0.2
alive_period = {alive}
window = {window}
grace = 5.0

[master.events.throttle.fleet]
divisor = 100.0
period_min = 5
period_max = {period_max}
thresholds = [500, 2000, 5000, 10000]

[master.events.throttle.agent]
divisor = 1.0
period_min = 5
period_max = {period_max}
thresholds = [500, 2000, 5000, 10000]
"""


def stored_since(database: Path, since: str) -> int:
    """Events (sum of counts) the master stored at or after `since` (read-only, WAL: no lock on it)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        row = connection.execute("SELECT COALESCE(SUM(count), 0) FROM events WHERE received_at >= ?",
                                 (since,)).fetchone()
        return int(row[0])
    finally:
        connection.close()


def store_total(urls: list[str], nats_state: Path) -> int:
    """Every event count in the store, all tiers, through the operator API."""
    from partout.operator import OperatorClient, default_key_file

    with OperatorClient.connect(urls, key_file=default_key_file(nats_state), timeout=60) as client:
        reply = client.call("events", limit=1)
    return int(reply["totals"]["count"])


def summary(statuses: dict[int, dict[str, Any]]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Sums of the workers' counters, and agents per advised level and period."""
    totals: dict[str, int] = {}
    levels: dict[str, int] = {}
    periods: dict[str, int] = {}
    for status in statuses.values():
        for key in ("generated", "acked", "pending", "spooled", "spools_opened", "advice_heard", "publish_errors"):
            totals[key] = totals.get(key, 0) + int(status.get(key, 0))
        for level, count in status.get("levels", {}).items():
            levels[level] = levels.get(level, 0) + count
        for period, count in status.get("periods", {}).items():
            periods[period] = periods.get(period, 0) + count
    return totals, levels, periods


def advised(levels: dict[str, int], periods: dict[str, int]) -> str:
    """Agents per advised level, and the advised P: median (min-max) over the agents."""
    level_text = " ".join(f"L{level}:{count}" for level, count in sorted(levels.items(), reverse=True))
    spread = sorted((float(period), count) for period, count in periods.items())
    middle, seen, median = sum(periods.values()) / 2, 0, 0.0
    for period, count in spread:
        seen += count
        if seen >= middle:
            median = period
            break
    return f"P {median:.0f}s ({spread[0][0]:.0f}-{spread[-1][0]:.0f}) {level_text}" if spread else level_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2, help="worker processes running the simulated agents")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of storm and calm")
    parser.add_argument("--calm", type=float, default=120.0, help="fleet-wide events per minute when calm")
    parser.add_argument("--peak", type=float, default=12000.0, help="fleet-wide events per minute at the peak")
    parser.add_argument("--identity", choices=("auto", "enrolled", "shared"), default="auto",
                        help="auto: enrolled up to 200 agents, shared above")
    parser.add_argument("--connections", type=int, default=4, help="connections per worker (shared identity)")
    parser.add_argument("--period-max", type=int, default=60, help="Pmax, seconds (compressed from 3600)")
    parser.add_argument("--window", type=float, default=60.0, help="rate window, seconds (compressed from 300)")
    parser.add_argument("--alive", type=int, default=120, help="alive period, seconds (compressed from a day)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between printed lines")
    parser.add_argument("--tmp", help="where the temp dir goes (default: the system's)")
    arguments = parser.parse_args()
    if arguments.identity == "auto":
        arguments.identity = "enrolled" if arguments.agents <= 200 else "shared"
    run_in_temporary_directory("events", arguments.tmp, lambda directory: run(arguments, directory))


def run(arguments: argparse.Namespace, directory: Path) -> None:
    from partout.events.backoff import ThrottleSettings
    from partout.master.config import load_config

    total, procs = arguments.agents, worker_count(arguments.agents, arguments.procs)
    write_environment(directory, 'p2.file("/tmp/partout-bench-events-motd", content="bench\\n")\n')
    config = directory / "master.toml"
    config.write_text(BENCH_CONFIG.format(nats_state=json.dumps(str(directory / "nats")), alive=arguments.alive,
                                          window=arguments.window, period_max=arguments.period_max))
    settings: ThrottleSettings = load_config(config).events.throttle
    with backbone_and_master(directory, auto_approve="bench-*=production", config=config) as (backbone, master):
        pool = WorkerPool(directory, stop_timeout=60)
        try:
            master.wait_until_up(lambda: store_total(backbone.urls, directory / "nats"), time.monotonic() + 90,
                                 pause=0.5)
            cpu_idle, rss_idle, _ = master.stats()
            say(f"events bench: {total} simulated agents in {procs} processes, identity {arguments.identity} "
                f"({'one enrolled nkey and connection per agent' if arguments.identity == 'enrolled' else f'{arguments.connections} master-key connections per process, one subject and control subscription per agent'}); "
                f"storm {arguments.calm:.0f} -> {arguments.peak:.0f} -> {arguments.calm:.0f} events/min over "
                f"{arguments.duration:.0f} s")
            say(f"throttle (compressed time): fleet D={settings.fleet.divisor:g} P in [{settings.fleet.period_min}, "
                f"{settings.fleet.period_max}] s, agent D={settings.agent.divisor:g} P in [{settings.agent.period_min}, "
                f"{settings.agent.period_max}] s, thresholds {list(settings.fleet.thresholds)}/min, window "
                f"{settings.window:g} s, alive {settings.alive_period} s, splay {settings.splay}; master pid {master.pid} "
                f"idle {cpu_idle:.2f} s CPU, {mb(rss_idle)} RSS")
            start_at = time.time() + 10 + total / 2000 + (total * 0.05 if arguments.identity == "enrolled" else 0)
            for number, (first, count) in enumerate(slices(total, procs)):
                pool.spawn([sys.executable, str(Path(__file__).with_name("events_agents.py")), "--directory",
                            str(directory / f"worker-{number}"), "--nats", backbone.urls[0], "--identity",
                            arguments.identity, "--master-seed", str(backbone.keys.master.path), "--connections",
                            str(arguments.connections), "--first", str(first), "--count", str(count), "--agents",
                            str(total), "--start-at", str(start_at), "--duration", str(arguments.duration), "--calm",
                            str(arguments.calm), "--peak", str(arguments.peak), "--initial-advice",
                            settings.initial.model_dump_json()],
                           f"worker-{number}.log", worker=number)
            observe(arguments, directory, master, pool, start_at, backbone.urls)
        finally:
            pool.stop()


def observe(arguments: argparse.Namespace, directory: Path, master: Master, pool: WorkerPool, start_at: float,
            urls: list[str]) -> None:
    from partout.master.store.event_records import event_time
    from datetime import UTC, datetime

    database = directory / "master" / "store.sqlite"
    statuses: dict[int, dict[str, Any]] = {}
    finals: dict[int, dict[str, Any]] = {}
    deadline = start_at + arguments.duration + 300
    next_line = start_at + arguments.every
    cpu_before, _, _ = master.stats()
    mark, mark_at = event_time(datetime.now(UTC)), time.monotonic()
    steady: list[float] = []
    print(f"{'t':>5} {'phase':<6} {'target/min':>10} {'ingested/min':>12} {'pending':>8} {'spooled':>7} "
          f"{'master CPU':>10} {'RSS MB':>6}  advised", flush=True)
    while len(finals) < len(pool.processes):
        if time.time() > deadline:
            print("gave up waiting for the workers' final counts", flush=True)
            break
        if master.process.poll() is not None:
            raise SystemExit(f"the master exited ({master.process.returncode}); see {directory}/master.log")
        try:
            line = pool.events.get(timeout=0.5)
            (finals if "final" in line else statuses)[line["worker"]] = line
            if "final" in line:
                statuses[line["worker"]] = line
        except queue.Empty:
            pass
        if time.time() >= next_line and statuses:
            next_line += arguments.every
            now_mark, now_at = event_time(datetime.now(UTC)), time.monotonic()
            ingested = stored_since(database, mark) * 60.0 / (now_at - mark_at)
            mark, mark_at = now_mark, now_at
            cpu, rss, _ = master.stats()
            share = (cpu - cpu_before) / arguments.every
            cpu_before = cpu
            status = next(iter(statuses.values()))
            phase, rate = status.get("phase", "?"), status.get("rate", 0.0)
            if phase in ("peak", "calm") and time.time() - start_at > arguments.duration * 0.1:
                steady.append(share)
            totals, levels, periods = summary(statuses)
            print(f"{time.time() - start_at:5.0f} {phase:<6} {rate:10.0f} {ingested:12.0f} {totals['pending']:8d} "
                  f"{totals['spooled']:7d} {share * 100:9.0f}% {rss / 2**20:6.0f}  {advised(levels, periods)}",
                  flush=True)
    totals, levels, periods = summary(finals)
    expected = totals.get("acked", 0)
    stored = -1
    wait_until = time.monotonic() + 180
    while time.monotonic() < wait_until:  # the master may still be draining the stream
        stored = store_total(urls, directory / "nats")
        if stored >= expected:
            break
        time.sleep(2)
    cpu, rss, peak = master.stats()
    lost_source = totals.get("generated", 0) - expected - totals.get("spooled", 0) - totals.get("pending", 0)
    print(f"source: {totals.get('generated', 0)} events generated, {expected} acked by the stream, "
          f"{totals.get('spooled', 0)} still spooled, {totals.get('pending', 0)} unsent "
          f"(spools opened: {totals.get('spools_opened', 0)}, publish errors: {totals.get('publish_errors', 0)}, "
          f"advice heard: {totals.get('advice_heard', 0)})", flush=True)
    print(f"store: {stored} events (operator API totals); lost at source {lost_source}, "
          f"lost between stream and store {expected - stored}", flush=True)
    steady_text = f"{sum(steady) / len(steady) * 100:.0f}% of one core (max {max(steady) * 100:.0f}%)" if steady else "n/a"
    print(f"master: {cpu:.1f} s CPU in total, peak+calm average {steady_text}, RSS {rss / 2**20:.0f} MB "
          f"(peak {peak / 2**20:.0f} MB)", flush=True)


if __name__ == "__main__":
    main()
