"""Watching never loses a path: missing parents, deleted and recreated parents, files
replaced by rename, trees moved away and back; one inotify instance and one thread,
no watch left behind across policy reloads; polling where inotify cannot see."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogs import catalog, resource
from helpers import eventually
from test_engine_watch import Collected

from partout.engine import Engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    running = Engine(state, facts={})
    yield running
    running.stop()


def inotify_watches() -> tuple[int, int]:
    """(inotify instances, watches in them) held by this process, from /proc."""
    instances = watches = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as handle:
                watches += sum(1 for line in handle if line.startswith("inotify wd:"))
            instances += 1
        except OSError:
            continue
    return instances, watches


def watcher_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "partout-watcher")


def test_a_file_whose_parent_does_not_exist_yet_is_watched_once_it_appears(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "later" / "deeper" / "app.conf"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.watch(policy, Collected())
    target.parent.mkdir(parents=True)
    assert eventually(lambda: target.exists() and target.read_text() == "good\n")
    target.write_text("tampered\n")
    assert eventually(lambda: target.read_text() == "good\n")


def _removed(directory: Path) -> bool:
    try:
        shutil.rmtree(directory)
    except OSError:
        return False
    return True


def test_a_parent_deleted_and_recreated_stays_watched(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "conf.d" / "app.conf"
    target.parent.mkdir()
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    engine.watch(policy, Collected())
    # the watch may repair app.conf between rmtree's unlink and its rmdir (as against a
    # real `rm -rf`): delete again until the directory is gone
    assert eventually(lambda: _removed(target.parent))
    target.parent.mkdir()
    assert eventually(lambda: target.exists() and target.read_text() == "good\n")
    target.write_text("tampered\n")
    assert eventually(lambda: target.read_text() == "good\n")


def test_a_file_replaced_by_rename_is_repaired(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "app.conf"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    engine.watch(policy, Collected())
    for number in range(3):
        replacement = tmp_path / f"new{number}"
        replacement.write_text(f"replaced {number}\n")
        os.rename(replacement, target)
        assert eventually(lambda: target.read_text() == "good\n")


def test_a_tree_moved_away_and_back_is_watched_where_it_is_now(engine: Engine, tmp_path: Path) -> None:
    tree = tmp_path / "srv" / "app"
    target = tree / "app.conf"
    tree.mkdir(parents=True)
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    engine.run(policy)
    collected = Collected()
    engine.watch(policy, collected)
    away = tmp_path / "away"
    os.rename(tmp_path / "srv", away)
    # the old watch followed the inode: a write at the new place is not the managed file
    (away / "app" / "app.conf").write_text("not managed any more\n")
    (away / "app" / "app.conf").write_text("still not managed\n")
    os.rename(away, tmp_path / "srv")
    assert eventually(lambda: target.read_text() == "good\n")
    target.write_text("tampered after the move back\n")
    assert eventually(lambda: target.read_text() == "good\n")


def test_one_inotify_instance_and_thread_serve_many_directories(engine: Engine, tmp_path: Path) -> None:
    before_instances, _ = inotify_watches()
    before_threads = threading.active_count()
    files = [tmp_path / f"d{number}" / "f" for number in range(200)]
    for path in files:
        path.parent.mkdir()
    policy = catalog(*(resource("probe", str(path), content="x", watch=True) for path in files))
    engine.run(policy)
    engine.watch(policy, Collected())
    instances, watches = inotify_watches()
    assert instances == before_instances + 1
    assert watches >= 200
    assert watcher_threads() == 1
    assert threading.active_count() - before_threads < 20  # the worker pool, not a thread per directory
    files[-1].write_text("drift\n")
    assert eventually(lambda: files[-1].read_text() == "x")


def test_policy_reloads_leave_no_inotify_watch_behind(engine: Engine, tmp_path: Path) -> None:
    _, before = inotify_watches()

    def policy(generation: int) -> object:
        return catalog(*(resource("probe", str(tmp_path / f"g{generation}" / f"d{number}" / "f"),
                                  content="x", watch=True) for number in range(5)))

    for generation in range(20):
        engine.watch(policy(generation), Collected())  # type: ignore[arg-type]
    last = {tmp_path / "g19" / f"d{number}" for number in range(5)}
    # the last policy's directories do not exist: each is anchored at tmp_path, which
    # is watched once, with its ancestors for their own moves
    anchors = {tmp_path}
    ancestors = {Path(*tmp_path.parts[:depth]) for depth in range(2, len(tmp_path.parts))}
    assert inotify_watches()[1] - before == len(anchors | ancestors)
    for directory in last:
        directory.mkdir(parents=True)
    assert eventually(lambda: all((directory / "f").exists() for directory in last))
    assert eventually(lambda: inotify_watches()[1] - before == len(last | {tmp_path / "g19"} | anchors | ancestors))
    engine.stop()
    assert eventually(lambda: inotify_watches() [1] == before)
    assert watcher_threads() == 0


def filesystem_of(path: Path) -> str:
    best, kind = "", ""
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields, _, rest = line.partition(" - ")
            point = fields.split()[4]
            if (str(path) + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(best):
                best, kind = point, rest.split()[0]
    return kind


def test_a_filesystem_without_inotify_events_is_polled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    kind = filesystem_of(tmp_path)
    polled = Engine(state, facts={}, watcher_options={"polled_filesystems": {kind}, "poll_interval": 0.05})
    target = tmp_path / "remote.conf"
    policy = catalog(resource("probe", str(target), content="good\n", watch=True))
    try:
        polled.run(policy)
        _, before = inotify_watches()
        with caplog.at_level(logging.WARNING, logger="partout"):
            polled.watch(policy, Collected())
        assert any("polling" in record.getMessage() and getattr(record, "filesystem", "") == kind
                   for record in caplog.records)
        assert inotify_watches()[1] == before  # nothing armed: polled
        target.write_text("changed elsewhere\n")
        assert eventually(lambda: target.read_text() == "good\n")
    finally:
        polled.stop()
