"""The agent's aggregator: one batch per jittered period, exact counts at every level,
alive messages when nothing happens, the master's advice taken at once. Time is injected."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from partout.events.aggregator import Aggregator
from partout.events.counts import leaves_of
from partout.events.wire import Advice, Event, EventBatch, Level, key_of, parse_batch
from partout.report import Status

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def event(title: str = "/etc/motd", *, module: str = "file", message: str = "content changed",
          status: Status = Status.CHANGED, sequence: int = 1) -> Event:
    return Event(agent_id="web1", module=module, title=title, status=status, message=message,
                 agent_time=T0, sequence=sequence)


def ids() -> Iterator[str]:
    number = 0
    while True:
        number += 1
        yield f"batch{number:08d}"


def aggregator(advice: Advice | None = None, uniform: float = 0.5, **kwargs: int) -> Aggregator:
    counter = ids()
    return Aggregator("web1", now=T0, advice=advice or Advice(period=10, splay=0.1),
                      uniform=lambda: uniform, new_id=lambda: next(counter), **kwargs)


def test_events_in_one_period_make_one_batch_when_it_ends() -> None:
    agg = aggregator()
    for offset in range(5):
        agg.add(event(), T0 + seconds(offset))
    assert agg.next_due() == T0 + seconds(10)
    assert agg.poll(T0 + seconds(9.9)) is None
    batch = agg.poll(T0 + seconds(10))
    assert batch is not None and batch.count == 5 and batch.level == Level.MESSAGE
    assert agg.poll(T0 + seconds(10.5)) is None
    assert agg.pending == 0 and agg.sent == 5


@pytest.mark.parametrize(("uniform", "period"), [(0.0, 9.5), (0.5, 10.0), (0.999999, 10.5)])
def test_the_period_varies_by_the_splay(uniform: float, period: float) -> None:
    agg = aggregator(uniform=uniform)
    agg.add(event(), T0)
    assert abs((agg.next_due() - T0).total_seconds() - period) < 1e-3


def test_a_period_opens_with_the_first_event_and_a_batch_covers_the_time_since_the_last() -> None:
    agg = aggregator()
    agg.add(event(), T0 + seconds(100))
    first = agg.poll(T0 + seconds(110))
    assert first is not None and (first.period_start, first.period_end) == (T0, T0 + seconds(110))
    agg.add(event(), T0 + seconds(500))
    second = agg.poll(T0 + seconds(510))
    assert second is not None and second.period_start == first.period_end
    assert second.period_end == T0 + seconds(510)


def test_the_batch_nests_counts_by_module_object_and_message() -> None:
    agg = aggregator()
    agg.add(event("/etc/motd", message="content changed"), T0)
    agg.add(event("/etc/motd", message="content changed"), T0)
    agg.add(event("/etc/motd", message="mode changed"), T0)
    agg.add(event("nginx", module="package", message="failed: no such package", status=Status.FAILED, sequence=7), T0)
    batch = agg.poll(T0 + seconds(10))
    assert batch is not None and batch.modules is not None
    motd = batch.modules["file"].objects[key_of("/etc/motd")]  # type: ignore[index]
    assert motd.count == 3
    assert motd.messages[key_of("content changed")].count == 2  # type: ignore[index]
    assert batch.by_status == {Status.CHANGED: 3, Status.FAILED: 1}
    assert batch.sequence == 7


@pytest.mark.parametrize("level", [Level.OBJECT, Level.MODULE, Level.AGENT])
def test_the_advised_level_coarsens_the_batch(level: Level) -> None:
    agg = aggregator(Advice(period=10, level=level))
    for number in range(4):
        agg.add(event(f"/srv/{number}", message=f"m{number}"), T0)
    batch = agg.poll(T0 + seconds(11))
    assert batch is not None and batch.level == level and batch.count == 4


def test_at_level_zero_events_are_counted_and_go_out_with_the_alive_message() -> None:
    agg = aggregator(Advice(period=10, level=Level.ALIVE, alive_period=3600))
    for offset in range(0, 1000, 10):
        agg.add(event(), T0 + seconds(offset))
        assert agg.poll(T0 + seconds(offset + 5)) is None
    assert agg.next_due() == T0 + seconds(3600)
    alive = agg.poll(T0 + seconds(3600))
    assert alive is not None and alive.alive and alive.count == 100 and alive.modules is None


def test_an_alive_message_goes_out_once_per_alive_period_when_nothing_happens() -> None:
    agg = aggregator(Advice(period=10, alive_period=86400))
    assert agg.poll(T0 + seconds(86399)) is None
    alive = agg.poll(T0 + seconds(86400))
    assert alive is not None and alive.alive and alive.count == 0 and alive.by_status == {}
    assert (alive.period_start, alive.period_end) == (T0, T0 + seconds(86400))
    assert agg.next_due() == T0 + seconds(2 * 86400)


@pytest.mark.parametrize(("uniform", "alive"), [(0.0, 86400 * 0.975), (0.5, 86400.0), (0.999999, 86400 * 1.025)])
def test_the_alive_period_varies_by_the_splay(uniform: float, alive: float) -> None:
    agg = aggregator(Advice(period=10, splay=0.05, alive_period=86400), uniform=uniform)
    assert abs((agg.next_due() - T0).total_seconds() - alive) < 0.01  # (0.999999: not quite +splay/2)
    assert agg.poll(T0 + seconds(alive - 1)) is None
    first = agg.poll(T0 + seconds(alive))
    assert first is not None and first.alive
    assert abs((agg.next_due() - first.period_end).total_seconds() - alive) < 0.01  # each one again


def test_a_fleet_started_together_spreads_its_alive_messages_over_the_splay() -> None:
    chance = random.Random(12)
    advice = Advice(period=10, splay=0.05, alive_period=86400)
    fleet = [Aggregator(f"web{number}", now=T0, advice=advice, uniform=chance.random) for number in range(200)]
    dues = sorted((agg.next_due() - T0).total_seconds() for agg in fleet)
    assert 86400 * 0.975 <= dues[0] and dues[-1] <= 86400 * 1.025
    assert dues[-1] - dues[0] > 86400 * 0.05 * 0.9  # spread over (nearly) the whole splay
    assert len({round(due) for due in dues}) > 190  # not in step: barely two in the same second
    # and they stay spread after the first round (each next one is drawn again)
    seconds_after = sorted((agg.next_due() - agg.poll(T0 + seconds(dues[-1]))  # type: ignore[operator,union-attr]
                            .period_end).total_seconds() for agg in fleet)
    assert seconds_after[-1] - seconds_after[0] > 86400 * 0.05 * 0.9


def test_a_batch_resets_the_alive_period() -> None:
    agg = aggregator(Advice(period=10, alive_period=3600))
    agg.add(event(), T0 + seconds(3000))
    assert agg.poll(T0 + seconds(3010)) is not None
    assert agg.poll(T0 + seconds(3600)) is None
    assert agg.next_due() == T0 + seconds(3010 + 3600)


def test_a_shorter_advised_period_makes_the_open_period_due_sooner() -> None:
    agg = aggregator(Advice(period=600, splay=0))
    agg.add(event(), T0)
    agg.advise(Advice(period=10, splay=0), T0 + seconds(30))
    assert agg.next_due() == T0 + seconds(10)
    batch = agg.poll(T0 + seconds(30))
    assert batch is not None and batch.count == 1


def test_a_longer_advised_period_holds_the_batch_back() -> None:
    agg = aggregator(Advice(period=10, splay=0))
    agg.add(event(), T0)
    agg.advise(Advice(period=300, splay=0, level=Level.MODULE), T0 + seconds(5))
    assert agg.poll(T0 + seconds(10)) is None
    batch = agg.poll(T0 + seconds(300))
    assert batch is not None and batch.level == Level.MODULE


def test_leaving_level_zero_sends_the_counted_events_after_the_new_period() -> None:
    agg = aggregator(Advice(period=10, splay=0, level=Level.ALIVE))
    agg.add(event(), T0)
    agg.advise(Advice(period=10, splay=0, level=Level.MESSAGE), T0 + seconds(60))
    batch = agg.poll(T0 + seconds(60))
    assert batch is not None and batch.level == Level.MESSAGE and batch.count == 1


def test_too_many_distinct_keys_cost_detail_not_counts() -> None:
    agg = aggregator(max_pending_keys=50)
    for number in range(500):
        agg.add(event(f"/srv/{number % 40}", message=f"unique {number}"), T0)
    batch = agg.poll(T0 + seconds(10))
    assert batch is not None and batch.level == Level.OBJECT and batch.count == 500
    assert len(leaves_of(batch)) == 40


def test_an_event_of_another_agent_is_refused() -> None:
    agg = aggregator()
    with pytest.raises(ValueError, match="'db1' given to the aggregator of 'web1'"):
        agg.add(Event(agent_id="db1", module="file", title="/x", status=Status.OK, agent_time=T0), T0)


def test_flush_sends_what_is_pending_and_nothing_when_empty() -> None:
    agg = aggregator()
    assert agg.flush(T0) is None
    agg.add(event(), T0)
    batch = agg.flush(T0 + seconds(1))
    assert batch is not None and batch.count == 1
    assert agg.flush(T0 + seconds(2)) is None


def test_counts_are_exact_across_random_storms_levels_and_advice() -> None:
    chance = random.Random(12)
    agg = Aggregator("web1", now=T0, uniform=chance.random, max_pending_keys=200)
    now, added, sent, batch_ids = T0, 0, 0, set()
    batches: list[EventBatch] = []
    for _ in range(5000):
        now += seconds(chance.expovariate(1.0))
        if chance.random() < 0.02:
            agg.advise(Advice(period=chance.choice([1, 10, 60, 600]), level=Level(chance.randrange(5)),
                              alive_period=chance.choice([60, 3600])), now)
        if chance.random() < 0.8:
            agg.add(event(f"/srv/{chance.randrange(300)}", message=f"m{chance.randrange(5)}",
                          status=chance.choice(list(Status))), now)
            added += 1
        while (batch := agg.poll(now)) is not None:
            batches.append(parse_batch(batch.model_dump_json().encode()))
    if (last := agg.flush(now)) is not None:
        batches.append(last)
    for batch in batches:
        sent += batch.count
        assert sum(leaves_of(batch).values()) == batch.count == sum(batch.by_status.values())
        batch_ids.add(batch.batch_id)
    assert sent == added == agg.sent
    assert len(batch_ids) == len(batches)
    for earlier, later in zip(batches, batches[1:], strict=False):
        assert later.period_start == earlier.period_end
    assert {batch.level for batch in batches} == set(Level)
