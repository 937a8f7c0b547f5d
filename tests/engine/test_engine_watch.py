from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogs import catalog, resource
from helpers import eventually

from partout.engine import Engine
from partout.report import Report


class Collected:
    def __init__(self) -> None:
        self.reports: list[Report] = []
        self._lock = threading.Lock()

    def __call__(self, report: Report) -> None:
        with self._lock:
            self.reports.append(report)

    def count(self, resource_id: str) -> int:
        with self._lock:
            return sum(1 for report in self.reports for result in report.results if result.id == resource_id)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    running = Engine(state, facts={})
    yield running
    running.stop()


def test_watch_repairs_drift_and_reports_with_trigger_watch(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "watched"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    target.write_text("bad\n")
    assert eventually(lambda: target.read_text() == "good\n")
    assert eventually(lambda: collected.count(f"probe:{target}") >= 1)
    assert collected.reports[0].trigger == "watch"
    assert collected.reports[0].results[0].status.value == "changed"


def test_a_burst_of_writes_is_repaired_without_a_report_per_event(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "watched"
    fence = tmp_path / "fence"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True),
                     resource("probe", str(fence), content="fence\n", watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    for number in range(20):
        with open(target, "a") as handle:
            handle.write(f"noise {number}\n")
    assert eventually(lambda: target.read_text() == "good\n")
    fence.write_text("moved\n")
    assert eventually(lambda: collected.count(f"probe:{fence}") == 1)
    # 20 appends make 40+ events; leading edge plus one trailing check: at most 2 repairs.
    assert 1 <= collected.count(f"probe:{target}") <= 2
    assert target.read_text() == "good\n"


def test_resources_without_watch_are_not_repaired(engine: Engine, tmp_path: Path) -> None:
    free = tmp_path / "free"
    fence = tmp_path / "fence"
    policy = catalog(resource("probe", str(free), content="x\n"),
                     resource("probe", str(fence), content="fence\n", watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    free.write_text("mine\n")
    fence.write_text("moved\n")
    assert eventually(lambda: collected.count(f"probe:{fence}") == 1)
    assert free.read_text() == "mine\n"
    assert collected.count(f"probe:{free}") == 0


def test_stop_ends_repairs(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "watched"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    engine.watch(policy, Collected())
    engine.stop()
    target.write_text("left alone\n")
    assert target.read_text() == "left alone\n"


def test_require_between_concurrent_files_is_honoured(engine: Engine, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal")
    chain = []
    for number in range(6):
        require = [chain[-1].id] if chain else []
        chain.append(resource("probe", str(tmp_path / f"c{number}"), content="x", journal=journal,
                              delay=0.003 * (6 - number), require=require))
    engine.run(catalog(*reversed(chain)))
    assert Path(journal).read_text().splitlines() == [f"apply {tmp_path}/c{number}" for number in range(6)]


def test_a_repair_fires_the_changed_event_to_its_listeners(engine: Engine, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    config = resource("probe", str(tmp_path / "app.conf"), content="v1\n", watch=True)
    service = resource("step", "app", journal=str(journal), on={f"{config.id}:changed": "restart"})
    policy = catalog(config, service)
    engine.run(policy)
    assert journal.read_text().splitlines() == ["step app", "restart app"]
    collected = Collected()
    engine.watch(policy, collected)
    (tmp_path / "app.conf").write_text("tampered\n")
    assert eventually(lambda: collected.count(service.id) == 1)
    assert journal.read_text().splitlines() == ["step app", "restart app", "restart app"]
    report = collected.reports[0]
    assert [result.id for result in report.results] == [config.id, service.id]


def test_a_polled_resource_is_rechecked_on_its_interval(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "polled"
    policy = catalog(resource("probe", str(target), content="good\n", poll=0.05, watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    target.write_text("bad\n")
    assert eventually(lambda: target.read_text() == "good\n")
    assert eventually(lambda: collected.count(f"probe:{target}") == 1)
    target.write_text("bad again\n")
    assert eventually(lambda: collected.count(f"probe:{target}") == 2)
    assert target.read_text() == "good\n"
