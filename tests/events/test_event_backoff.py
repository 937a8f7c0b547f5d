"""The master's throttle: the original's formula, rates measured from batches, the stricter
of agent and fleet, a storm backing agents off and calm bringing them back. Time injected."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from partout.events.aggregator import Aggregator
from partout.events.backoff import BackoffLimits, Throttle, ThrottleSettings, advise, period_and_level
from partout.events.counts import build_batch
from partout.events.wire import Advice, Event, EventBatch, Level
from partout.report import Status

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
# The original's master configuration (etc/partout.conf.example.js): D, Pmin, Pmax, thresholds.
ORIGINAL = BackoffLimits(divisor=100, period_min=5, period_max=3600, thresholds=(500, 2000, 5000, 10000))
# Numbers under which the level ladder is reachable (P reaches Pmax below the first threshold).
LADDER = BackoffLimits(divisor=1, period_min=10, period_max=300)


def original_calc_level(em: float, limits: BackoffLimits) -> tuple[int, int]:
    """lib/api/routes.js calc_level() of the original, transliterated, with the design note's
    int() and its struck-out level 0 restored (DESIGN.md): the oracle for the table."""
    ps = int(em / limits.divisor)
    ps = ps if ps > limits.period_min else limits.period_min
    ps = ps if ps < limits.period_max else limits.period_max
    level = 4
    if ps >= limits.period_max:
        t_obj, t_mod, t_uuid, t_max = limits.thresholds
        if em < t_obj:
            level = 4
        elif em < t_mod:
            level = 3
        elif em < t_uuid:
            level = 2
        elif em < t_max:
            level = 1
        else:
            level = 0
    return ps, level


def answer(throttle: Throttle, agent_id: str, now: float) -> Advice:
    """What the master does with a batch: compute the advice and tell it (noted as told)."""
    advice = throttle.current(agent_id, now)
    throttle.note_told(agent_id, advice)
    return advice


@pytest.mark.parametrize(("rate", "expected"), [
    (0, (5, 4)), (499, (5, 4)), (599.9, (5, 4)), (600, (6, 4)), (1234.5, (12, 4)), (10_000, (100, 4)),
    (359_999, (3599, 4)), (360_000, (3600, 0)), (1_000_000, (3600, 0)),
])
def test_the_rule_with_the_originals_numbers(rate: float, expected: tuple[int, int]) -> None:
    assert period_and_level(rate, ORIGINAL) == expected
    assert original_calc_level(rate, ORIGINAL) == expected


@pytest.mark.parametrize(("rate", "expected"), [
    (0, (10, 4)), (9.99, (10, 4)), (45.5, (45, 4)), (299.99, (299, 4)), (300, (300, 4)), (499.9, (300, 4)),
    (500, (300, 3)), (1999, (300, 3)), (2000, (300, 2)), (4999.9, (300, 2)), (5000, (300, 1)),
    (9999, (300, 1)), (10_000, (300, 0)), (50_000, (300, 0)),
])
def test_the_rule_walks_down_the_levels_once_the_period_is_at_its_maximum(rate: float,
                                                                           expected: tuple[int, int]) -> None:
    assert period_and_level(rate, LADDER) == expected
    assert original_calc_level(rate, LADDER) == expected


def test_the_rule_matches_the_original_over_a_sweep_of_rates() -> None:
    for limits in (ORIGINAL, LADDER, ThrottleSettings().fleet, ThrottleSettings().agent):
        for rate in [r * 7.3 for r in range(0, 60_000)]:
            assert period_and_level(rate, limits) == original_calc_level(rate, limits), (limits, rate)


def test_the_stricter_of_agent_and_fleet_wins() -> None:
    settings = ThrottleSettings(agent=LADDER, fleet=BackoffLimits(divisor=10, period_min=10, period_max=120))
    noisy_agent_calm_fleet = advise(agent_rate=800, fleet_rate=900, settings=settings)
    assert (noisy_agent_calm_fleet.period, noisy_agent_calm_fleet.level) == (300, Level.OBJECT)
    calm_agent_busy_fleet = advise(agent_rate=5, fleet_rate=6000, settings=settings)
    assert (calm_agent_busy_fleet.period, calm_agent_busy_fleet.level) == (120, Level.AGENT)
    assert calm_agent_busy_fleet.splay == 0.05 and calm_agent_busy_fleet.alive_period == 86400


@pytest.mark.parametrize("bad", [
    {"period_min": 600, "period_max": 60}, {"thresholds": (500, 400, 5000, 10000)},
    {"thresholds": (500, 500, 5000, 10000)}, {"divisor": 0}, {"unknown": 1},
])
def test_settings_that_make_no_sense_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BackoffLimits.model_validate(bad)


def batch(agent: str, start: float, end: float, count: int) -> EventBatch:
    counts: Counter[tuple[str | None, str | None, str | None, Status]] = Counter()
    if count:
        counts[("file", "/x", "changed", Status.CHANGED)] = count
    return build_batch(counts, Level.MESSAGE, batch_id=f"{agent}-{start:.0f}-{end:.0f}", agent_id=agent,
                       period_start=T0 + timedelta(seconds=start), period_end=T0 + timedelta(seconds=end),
                       sent_at=T0 + timedelta(seconds=end))


def test_an_agents_rate_is_events_per_minute_over_the_time_its_batches_cover() -> None:
    throttle = Throttle()
    base = T0.timestamp()
    for period in range(30):  # 20 events every 10 s: 120 events per minute
        throttle.record(batch("web1", period * 10, period * 10 + 10, 20), received_at=base + period * 10 + 10.2)
    assert throttle.agent_rate("web1", base + 300.5) == pytest.approx(120, rel=0.01)
    assert throttle.agent_rate("nobody", base + 300.5) == 0


def test_a_new_agents_rate_is_measured_over_its_first_batch_only() -> None:
    throttle = Throttle()
    throttle.record(batch("web1", 0, 10, 50), received_at=T0.timestamp() + 10)
    assert throttle.agent_rate("web1", T0.timestamp() + 10) == pytest.approx(300)


def test_a_quiet_agent_fades_to_zero_within_a_window_and_a_period() -> None:
    settings = ThrottleSettings()
    throttle = Throttle(settings)
    base = T0.timestamp()
    throttle.record(batch("web1", 0, 10, 100), received_at=base + 10)
    told = answer(throttle, "web1", base + 10)
    assert (told.period, told.level) == (300, Level.OBJECT)  # 600 per minute on the agent's own rule
    gap = 300 * 1.025 + settings.grace  # silence shorter than its period says nothing
    assert throttle.agent_rate("web1", base + 10 + gap) == pytest.approx(600)
    halfway = throttle.agent_rate("web1", base + 10 + gap + 150)
    assert 0 < halfway < 600
    assert throttle.agent_rate("web1", base + 10 + gap + settings.window) == 0


def test_a_drained_spool_counts_at_the_times_its_batches_cover() -> None:
    throttle = Throttle()
    base = T0.timestamp()
    arrival = base + 1800.5  # the master was away for half an hour: all arrive at once
    for period in range(180):
        throttle.record(batch("web1", period * 10, period * 10 + 10, 5), received_at=arrival)
    assert throttle.agent_rate("web1", arrival) == pytest.approx(30, rel=0.01)


def test_the_fleet_rate_is_the_sum_of_the_agents() -> None:
    throttle = Throttle(ThrottleSettings(fleet_refresh=0))
    base = T0.timestamp()
    for number in range(50):
        throttle.record(batch(f"web{number}", 0, 60, 30), received_at=base + 60)
    assert throttle.fleet_rate(base + 60) == pytest.approx(50 * 30)


def test_the_fleet_rate_is_reused_for_its_refresh_time() -> None:
    throttle = Throttle(ThrottleSettings(fleet_refresh=5))
    base = T0.timestamp()
    throttle.record(batch("web1", 0, 60, 60), received_at=base + 60)
    assert throttle.fleet_rate(base + 60) == pytest.approx(60)
    throttle.record(batch("web2", 0, 60, 600), received_at=base + 61)
    assert throttle.fleet_rate(base + 62) == pytest.approx(60)
    assert throttle.fleet_rate(base + 66) == pytest.approx(660, rel=0.02)


def test_a_busy_fleet_backs_off_a_calm_agent() -> None:
    throttle = Throttle(ThrottleSettings(fleet_refresh=0))
    base = T0.timestamp()
    for number in range(200):  # 50 events per minute each: 10,000 per minute in all
        throttle.record(batch(f"web{number}", 0, 60, 50), received_at=base + 60)
    advice = answer(throttle, "web7", base + 60)
    assert advice.period == 100 and advice.level == Level.MESSAGE


def storm(aggregator: Aggregator, throttle: Throttle, start: float, end: float, per_second: float) -> list[Advice]:
    """Run the real aggregator against the throttle second by second, answering each batch."""
    seen: list[Advice] = []
    for second in range(int(start), int(end)):
        now = T0 + timedelta(seconds=second)
        for number in range(int((second + 1) * per_second) - int(second * per_second)):
            aggregator.add(Event(agent_id="web1", module="file", title=f"/srv/{number % 7}", status=Status.CHANGED,
                                 message=f"write {number % 3}", agent_time=now), now)
        if (sent := aggregator.poll(now)) is not None:
            throttle.record(sent, received_at=now.timestamp() + 0.05)
            advice = answer(throttle, "web1", now.timestamp() + 0.05)
            aggregator.advise(advice, now)
            seen.append(advice)
    return seen


def test_a_storm_raises_the_period_and_coarsens_the_level_and_calm_restores_them() -> None:
    throttle = Throttle()
    aggregator = Aggregator("web1", now=T0, advice=throttle.settings.initial, uniform=lambda: 0.5)
    gentle = storm(aggregator, throttle, 0, 600, per_second=0.1)  # 6 events per minute
    assert {(advice.period, advice.level) for advice in gentle} == {(10, Level.MESSAGE)}
    stormy = storm(aggregator, throttle, 600, 2400, per_second=20)  # 1,200 events per minute
    assert stormy[0].period > 10
    assert (stormy[-1].period, stormy[-1].level) == (300, Level.OBJECT)
    # calm: only the storm's last period still goes out, then nothing to answer
    assert len(storm(aggregator, throttle, 2400, 3600, per_second=0)) <= 1
    assert throttle.changed((T0 + timedelta(seconds=2700)).timestamp()) == {}
    calm = throttle.changed((T0 + timedelta(seconds=3600)).timestamp())
    assert calm == {"web1": throttle.settings.initial}  # pushed on the control subject
    throttle.note_told("web1", calm["web1"])
    aggregator.advise(calm["web1"], T0 + timedelta(seconds=3600))
    assert throttle.changed((T0 + timedelta(seconds=3601)).timestamp()) == {}
    again = storm(aggregator, throttle, 3600, 4200, per_second=0.1)
    assert {(advice.period, advice.level) for advice in again} == {(10, Level.MESSAGE)}
    assert aggregator.sent + aggregator.pending == 60 + 1800 * 20 + 60


def test_an_agent_storming_to_level_zero_comes_back_with_its_alive_message() -> None:
    throttle = Throttle()
    aggregator = Aggregator("web1", now=T0, advice=throttle.settings.initial, uniform=lambda: 0.5)
    stormy = storm(aggregator, throttle, 0, 900, per_second=200)  # 12,000 per minute
    assert stormy[-1].level == Level.ALIVE
    assert storm(aggregator, throttle, 900, 86400, per_second=0) == []
    # a day later the alive message carries the storm's count, averaged over its day
    returned = storm(aggregator, throttle, 86400, 900 + 86400 + 1, per_second=0)
    assert len(returned) == 1 and returned[0].level == Level.MESSAGE
    assert aggregator.sent == 200 * 900


def test_idle_agents_are_forgotten() -> None:
    throttle = Throttle()
    throttle.record(batch("web1", 0, 10, 1), received_at=T0.timestamp() + 10)
    assert throttle.forget_idle(T0.timestamp() + 86400) == []
    assert throttle.forget_idle(T0.timestamp() + 3 * 86400) == ["web1"]
    assert len(throttle) == 0
