from __future__ import annotations

import threading
import time
from typing import Any

import pykka
import pytest
from helpers import eventually

from partout.actors.pool import PooledActor, WorkerPool, stop_all


class Counter(PooledActor):
    """Records how many of its messages run at the same time."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__(pool=pool)
        self.inside = 0
        self.most_inside = 0
        self.seen: list[int] = []
        self.started = False
        self.stopped = False

    def on_start(self) -> None:
        self.started = True

    def on_stop(self) -> None:
        self.stopped = True

    def on_receive(self, message: Any) -> Any:
        if message == "stats":
            return (self.most_inside, list(self.seen), self.started)
        if message == "boom":
            raise ValueError("boom")
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.0005)
        self.seen.append(message)
        self.inside -= 1
        return None


@pytest.fixture
def pool() -> WorkerPool:
    return WorkerPool(size=4)


def test_each_actor_handles_one_message_at_a_time_in_order(pool: WorkerPool) -> None:
    actors = [Counter.start(pool) for _ in range(20)]
    senders = [threading.Thread(target=lambda ref=ref: [ref.tell(n) for n in range(50)]) for ref in actors]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    for ref in actors:
        most_inside, seen, started = ref.ask("stats", timeout=10)
        assert most_inside == 1
        assert seen == list(range(50))
        assert started
    stop_all(actors)


def test_a_thousand_actors_share_a_few_threads(pool: WorkerPool) -> None:
    before = threading.active_count()
    actors = [Counter.start(pool) for _ in range(1000)]
    futures = [ref.ask(1, block=False) for ref in actors]
    for future in futures:
        future.get(timeout=10)
    assert threading.active_count() - before <= pool.size
    stop_all(actors)
    assert all(not ref.is_alive() for ref in actors)


def test_ask_returns_the_exception_raised_by_the_actor(pool: WorkerPool) -> None:
    ref = Counter.start(pool)
    with pytest.raises(ValueError, match="boom"):
        ref.ask("boom", timeout=10)
    assert ref.is_alive()
    ref.stop()


def test_messages_to_a_stopped_actor_are_refused(pool: WorkerPool) -> None:
    ref = Counter.start(pool)
    assert ref.stop(timeout=10)
    with pytest.raises(pykka.ActorDeadError):
        ref.tell(1)


def test_call_later_runs_the_work_on_the_pool(pool: WorkerPool) -> None:
    done = threading.Event()
    pool.call_later(0.01, done.set)
    assert eventually(done.is_set, timeout=5)


def test_asks_racing_a_stop_are_answered_not_left_hanging(pool: WorkerPool) -> None:
    for _ in range(50):
        ref = Counter.start(pool)
        ref.tell(1)
        ref.stop(block=False)
        try:
            future = ref.ask(2, block=False)
        except pykka.ActorDeadError:
            continue
        try:
            future.get(timeout=5)
        except pykka.ActorDeadError:
            pass
