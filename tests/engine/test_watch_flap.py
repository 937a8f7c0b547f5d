"""Another process fighting Partout over a file: repairs and reports stay bounded, the
fight is reported once as flapping, CPU stays low, and repair resumes afterwards."""

from __future__ import annotations

import resource as rusage
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogs import catalog, resource
from helpers import eventually
from test_engine_watch import Collected

from partout.actors.flap import RepairLimit
from partout.engine import Engine

FIGHT_SECONDS = 2.0
LIMIT = RepairLimit(burst=3, rate=5.0, max_delay=0.4)

FIGHTER = """
import sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
count = 0
while time.monotonic() < end:
    with open(path, "w") as handle:
        handle.write(f"fighter {count}\\n")
    count += 1
    time.sleep(0.001)
print(count)
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    running = Engine(state, facts={}, repair_limit=LIMIT)
    yield running
    running.stop()


def cpu_seconds() -> float:
    usage = rusage.getrusage(rusage.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_a_fight_over_a_file_is_reported_once_as_flapping_with_bounded_repairs(engine: Engine,
                                                                                tmp_path: Path) -> None:
    target = tmp_path / "fought.conf"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    cpu_before = cpu_seconds()
    fighter = subprocess.run([sys.executable, "-c", FIGHTER, str(target), str(FIGHT_SECONDS)],
                             capture_output=True, text=True, check=True)
    cpu_during = cpu_seconds() - cpu_before
    writes = int(fighter.stdout)
    assert writes > 200
    assert eventually(lambda: target.read_text() == "good\n")
    results = [result for report in collected.reports for result in report.results]
    flapping = [result for result in results if "flapping" in result.summary]
    assert len(flapping) == 1
    assert "times in" in flapping[0].summary and "/s)" in flapping[0].summary
    # the burst, then at most the rate, then slower still: far fewer repairs than writes
    assert len(results) <= LIMIT.burst + LIMIT.rate * FIGHT_SECONDS + 2
    assert len(results) < writes / 20
    assert cpu_during < FIGHT_SECONDS / 2  # the agent's side of the fight (the fighter is another process)


def test_repair_resumes_at_once_after_the_fight_stops(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "fought.conf"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    subprocess.run([sys.executable, "-c", FIGHTER, str(target), "1.0"], check=True, capture_output=True)
    assert eventually(lambda: target.read_text() == "good\n")
    fought = len(collected.reports)
    # once quiet for twice the last delay the gate has recovered: a burst passes again
    for number in range(LIMIT.burst):
        def repaired_now() -> bool:
            target.write_text(f"one more {number}\n")
            return eventually(lambda: target.read_text() == "good\n", timeout=1.0)
        assert eventually(repaired_now)
    after = [result for report in collected.reports[fought:] for result in report.results]
    assert after and all("flapping" not in result.summary for result in after)
