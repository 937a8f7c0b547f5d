"""The flap gate's policy, on a clock the test moves: burst, then rate, one flapping
notice, exponential delay, recovery once the fight stops."""

from __future__ import annotations

from partout.actors.flap import RepairGate, RepairLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fight(gate: RepairGate, clock: Clock) -> list[str | None]:
    """Drift heard and repaired whenever the gate allows; returns each repair's notice."""
    gate.heard()
    clock.now += gate.wait()
    return [gate.repaired(True)]


def test_a_burst_of_repairs_passes_at_once() -> None:
    clock = Clock()
    gate = RepairGate(RepairLimit(burst=5, rate=1.0), clock=clock)
    for _ in range(4):
        gate.heard()
        assert gate.wait() == 0
        assert gate.repaired(True) is None
    assert not gate.flapping


def test_the_repair_that_spends_the_burst_reports_flapping_once_with_the_rate() -> None:
    clock = Clock()
    gate = RepairGate(RepairLimit(burst=5, rate=1.0), clock=clock)
    notices = []
    for _ in range(5):
        for _ in range(100):  # a hundred writes heard per repair
            gate.heard()
        clock.now += 0.01
        notices.append(gate.repaired(True))
    assert notices[:4] == [None] * 4
    assert notices[4] is not None and notices[4].startswith("flapping: changed 500 times in 0.05 s (10000.0/s)")
    assert gate.flapping
    later = [notice for _ in range(10) for notice in fight(gate, clock)]
    assert later == [None] * 10


def test_a_flapping_resource_waits_twice_as_long_each_time_up_to_the_limit() -> None:
    clock = Clock()
    gate = RepairGate(RepairLimit(burst=2, rate=1.0, max_delay=8.0), clock=clock)
    for _ in range(2):
        gate.repaired(True)
    waits = []
    for _ in range(6):
        gate.heard()
        waits.append(round(gate.wait(), 3))
        clock.now += gate.wait()
        gate.repaired(True)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_repairs_after_the_burst_are_held_to_the_rate() -> None:
    clock = Clock()
    gate = RepairGate(RepairLimit(burst=3, rate=2.0, max_delay=0.5), clock=clock)
    for _ in range(3):
        gate.repaired(True)
    gate.heard()
    assert gate.wait() == 0.5


def test_the_gate_recovers_by_itself_once_the_fight_stops() -> None:
    clock = Clock()
    gate = RepairGate(RepairLimit(burst=3, rate=1.0, max_delay=4.0), clock=clock)
    for _ in range(3):
        gate.repaired(True)
    for _ in range(4):
        fight(gate, clock)
    assert gate.flapping
    gate.repaired(False)  # our own write's trailing check: not the end of the fight by itself
    assert gate.flapping
    clock.now += 8.0  # quiet for twice the current delay
    gate.heard()
    assert gate.wait() == 0
    assert not gate.flapping
    assert gate.repaired(True) is None


def test_a_check_that_finds_nothing_between_fights_starts_the_count_again() -> None:
    clock = Clock()
    gate = RepairGate(RepairLimit(burst=5, rate=1.0), clock=clock)
    for _ in range(10):
        gate.heard()
        clock.now += 2.0  # one change every two seconds: the bucket refills in between
        assert gate.repaired(True) is None
        gate.repaired(False)
    assert not gate.flapping
