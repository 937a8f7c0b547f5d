"""One-for-one supervision (partout.actors.supervisor) with real Pykka actors: a failed
child is restarted after a Backoff pause, its crash logged once with its cause, and the
messages meant for it while it was down reach its successor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from helpers import eventually

from partout.actors.supervisor import Crash, PooledChild, Send, Supervisor, ThreadedChild, Wake
from partout.retry import Backoff


class Recorder:
    """What the children saw, shared with the test (not between actors)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[int, object]] = []
        self.starts = 0

    def record(self, instance: int, message: object) -> None:
        with self.lock:
            self.received.append((instance, message))

    def messages(self) -> list[object]:
        with self.lock:
            return [message for _, message in self.received]


class Counter(PooledChild):
    name = "counter"

    def __init__(self, parent: pykka.ActorRef[Any], recorder: Recorder, *, fail_at_start: int = 0) -> None:
        super().__init__(parent)
        self._recorder = recorder
        self._fail_at_start = fail_at_start

    def begin(self) -> None:
        self._recorder.starts += 1
        self.instance = self._recorder.starts
        if self._recorder.starts <= self._fail_at_start:
            raise RuntimeError(f"cannot start (attempt {self._recorder.starts})")

    def handle(self, message: object) -> object:
        if message == "boom":
            raise ValueError("a bug in handle")
        self._recorder.record(self.instance, message)
        return None


class Blocker(ThreadedChild):
    name = "blocker"

    def __init__(self, parent: pykka.ActorRef[Any], recorder: Recorder) -> None:
        super().__init__(parent)
        self._recorder = recorder

    def handle(self, message: object) -> object:
        self._recorder.record(0, message)
        return None


class Tree(Supervisor):
    def __init__(self, recorder: Recorder, fail_at_start: int = 0) -> None:
        super().__init__({"counter": lambda parent: Counter.start(parent, recorder, fail_at_start=fail_at_start),
                          "blocker": lambda parent: Blocker.start(parent, recorder)},
                         restarts=Backoff(first=0.05, limit=0.2, jitter=0))

    def on_start(self) -> None:
        self.start_child("counter")
        self.start_child("blocker")

    def handle(self, message: object) -> object:
        if message == "children":
            self.stopping = True
            return [ref for _, ref in self.running()]
        return super().handle(message)


def stop_tree(ref: pykka.ActorRef[Any]) -> None:
    for child in ref.ask("children", timeout=5):
        child.stop(timeout=5)
    ref.stop(timeout=5)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def tree(recorder: Recorder) -> Iterator[pykka.ActorRef[Any]]:
    ref = Tree.start(recorder)
    ref.tell(Wake())
    try:
        yield ref
    finally:
        stop_tree(ref)


def crashes(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage().startswith(f"actor {name} failed")]


def test_a_child_that_raises_is_restarted_and_its_crash_logged_once_with_the_cause(
        tree: pykka.ActorRef[Any], recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout.actors.supervisor")
    tree.tell(Send("counter", "one"))
    assert eventually(lambda: recorder.messages() == ["one"])
    tree.tell(Send("counter", "boom"))
    tree.tell(Send("counter", "two"))  # sent while it fails: handled by its successor
    assert eventually(lambda: recorder.messages() == ["one", "two"])
    assert [instance for instance, _ in recorder.received] == [1, 2]
    [record] = crashes(caplog, "counter")
    assert "ValueError: a bug in handle" in record.getMessage() and record.exc_info is not None


def test_a_child_that_fails_to_start_is_retried_with_growing_pauses(recorder: Recorder,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout.actors.supervisor")
    ref = Tree.start(recorder, fail_at_start=3)
    ref.tell(Wake())
    try:
        ref.tell(Send("counter", "waited"))
        assert eventually(lambda: recorder.messages() == ["waited"], timeout=10)
        assert recorder.starts == 4
        pauses = [float(record.getMessage().rsplit("in ", 1)[1].split()[0]) for record in crashes(caplog, "counter")]
        assert pauses == sorted(pauses) and pauses[0] < pauses[-1]
    finally:
        stop_tree(ref)


def test_a_crash_injected_by_the_test_hook_restarts_a_threaded_child(
        tree: pykka.ActorRef[Any], recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partout.actors.supervisor")
    tree.tell(Send("blocker", Crash("injected")))
    assert eventually(lambda: len(crashes(caplog, "blocker")) == 1)
    tree.tell(Send("blocker", "after"))
    assert eventually(lambda: recorder.messages() == ["after"])
    assert "InjectedCrash: injected" in crashes(caplog, "blocker")[0].getMessage()
