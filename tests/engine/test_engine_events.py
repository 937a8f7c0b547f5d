"""Event actions with real files and real commands, compiled from P2 text: a command that
listens with `on=` runs at most once per apply, after its event; a `p2.on` handler runs
only when the event fires; a drift repair runs each listener once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import eventually

from partout.dsl.catalog import Catalog
from partout.dsl.compiler import compile_policy
from partout.engine import Engine
from partout.report import Report, Status


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    running = Engine(state, facts=SimpleNamespace(hostname="test"))
    yield running
    running.stop()


def compiled(tmp_path: Path, text: str) -> Catalog:
    policy = tmp_path / "site.p2"
    policy.write_text(text)
    return compile_policy(policy, SimpleNamespace(hostname="test"))


def runs(journal: Path) -> list[str]:
    return journal.read_text().splitlines() if journal.exists() else []


def listening_policy(tmp_path: Path, content: str, form: str) -> str:
    """A file and a command that records the file's content each time it runs."""
    conf, journal = tmp_path / "app.conf", tmp_path / "journal"
    command = f"cat {conf} >> {journal}"
    declare_file = f'p2.file("{conf}", content="{content}\\n", watch=True)\n'
    if form == "on=":
        return declare_file + f'p2.command("{command}", on={{"file:{conf}:changed": "run"}})\n'
    return declare_file + f'with p2.on("file:{conf}:changed"):\n    p2.command("{command}")\n'


def test_a_command_with_on_runs_once_after_the_file_changed(engine: Engine, tmp_path: Path) -> None:
    report = engine.run(compiled(tmp_path, listening_policy(tmp_path, "v1", "on=")))
    # Once, and after the file was written: it read the new content.
    assert runs(tmp_path / "journal") == ["v1"]
    command = report.results[1]
    assert command.status is Status.CHANGED
    assert command.summary == f"ran: cat {tmp_path}/app.conf >> {tmp_path}/journal (on file:{tmp_path}/app.conf:changed)"


def test_a_command_with_on_still_runs_on_every_apply(engine: Engine, tmp_path: Path) -> None:
    # on= adds a reason to run; it does not make the command a handler (p2.on does).
    policy = compiled(tmp_path, listening_policy(tmp_path, "v1", "on="))
    engine.run(policy)
    second = engine.run(policy)
    assert runs(tmp_path / "journal") == ["v1", "v1"]
    assert second.results[1].summary == f"ran: cat {tmp_path}/app.conf >> {tmp_path}/journal"


def test_a_p2_on_handler_runs_once_when_the_event_fires_and_not_otherwise(engine: Engine, tmp_path: Path) -> None:
    policy = compiled(tmp_path, listening_policy(tmp_path, "v1", "p2.on"))
    first = engine.run(policy)
    assert runs(tmp_path / "journal") == ["v1"]
    assert first.results[1].summary.startswith("ran: cat ")
    second = engine.run(policy)
    assert runs(tmp_path / "journal") == ["v1"]
    assert second.results[1].status is Status.OK
    assert second.results[1].summary == "not triggered"
    engine.run(compiled(tmp_path, listening_policy(tmp_path, "v2", "p2.on")))
    assert runs(tmp_path / "journal") == ["v1", "v2"]


@pytest.mark.parametrize("form", ["on=", "p2.on"])
def test_a_repair_runs_the_listening_command_once(engine: Engine, tmp_path: Path, form: str) -> None:
    policy = compiled(tmp_path, listening_policy(tmp_path, "v1", form))
    engine.run(policy)
    assert runs(tmp_path / "journal") == ["v1"]
    reports: list[Report] = []
    lock = threading.Lock()

    def collect(report: Report) -> None:
        with lock:
            reports.append(report)

    engine.watch(policy, collect)
    (tmp_path / "app.conf").write_text("tampered\n")
    assert eventually(lambda: any(len(report.results) == 2 for report in list(reports)))
    assert runs(tmp_path / "journal") == ["v1", "v1"]
    repair = next(report for report in reports if len(report.results) == 2)
    assert repair.results[1].summary.startswith("ran: cat ")


def test_a_command_with_creates_is_not_run_by_its_event(engine: Engine, tmp_path: Path) -> None:
    marker = tmp_path / "made"
    marker.write_text("")
    conf = tmp_path / "app.conf"
    report = engine.run(compiled(
        tmp_path,
        f'p2.file("{conf}", content="x\\n")\n'
        f'p2.command("echo ran >> {tmp_path}/journal", creates="{marker}", on={{"file:{conf}:changed": "run"}})\n'
        f'p2.on("file:{conf}:changed", p2.command("echo handler >> {tmp_path}/journal", creates="{marker}"))\n',
    ))
    assert runs(tmp_path / "journal") == []
    assert [result.status for result in report.results] == [Status.CHANGED, Status.OK, Status.OK]


def test_noop_says_would_run_and_runs_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    engine = Engine(state, facts=SimpleNamespace(hostname="test"), noop=True)
    try:
        report = engine.run(compiled(tmp_path, listening_policy(tmp_path, "v1", "on=")))
    finally:
        engine.stop()
    assert runs(tmp_path / "journal") == []
    assert report.results[1].summary.startswith(f"would run: cat {tmp_path}/app.conf")
