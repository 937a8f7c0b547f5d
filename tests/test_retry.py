"""The one retry policy (partout/retry.py): exponential, capped, jittered, per key; and
`retry_until`, the one asyncio loop that retries an operation on it until a deadline."""

from __future__ import annotations

import time

import pytest

from partout.retry import Backoff, retry_until


def test_delays_double_from_first_up_to_the_limit() -> None:
    backoff = Backoff(first=0.5, limit=5.0, jitter=0)
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_jitter_takes_at_most_its_fraction_away_and_varies() -> None:
    backoff = Backoff(first=1.0, limit=8.0, jitter=0.5)
    samples = [backoff.delay(4) for _ in range(500)]
    assert all(4.0 <= sample <= 8.0 for sample in samples)
    assert len(set(samples)) > 100  # many agents restarted together do not retry in step


def test_the_jitter_draw_is_scaled_to_the_capped_delay() -> None:
    draws: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        draws.append((low, high))
        return low

    backoff = Backoff(first=2.0, limit=3.0, jitter=0.25, uniform=lowest)
    assert backoff.next() == 1.5
    assert backoff.next() == 2.25
    assert draws == [(0.75, 1.0), (0.75, 1.0)]


def test_each_key_counts_its_own_failures() -> None:
    backoff = Backoff(first=1.0, limit=60.0, jitter=0)
    assert [backoff.next("feed"), backoff.next("feed"), backoff.next("runner")] == [1.0, 2.0, 1.0]
    assert (backoff.attempts("feed"), backoff.attempts("runner"), backoff.attempts()) == (2, 1, 0)


def test_reset_starts_a_key_from_the_first_delay_again() -> None:
    backoff = Backoff(first=1.0, limit=60.0, jitter=0)
    backoff.next("feed")
    backoff.next("feed")
    backoff.reset("feed")
    assert backoff.next("feed") == 1.0
    backoff.reset("never-failed")  # nothing to forget is fine


def test_factor_one_is_a_fixed_pause() -> None:
    backoff = Backoff(first=0.2, limit=0.2, factor=1, jitter=0)
    assert {backoff.next() for _ in range(5)} == {0.2}


def test_a_very_long_outage_stays_at_the_limit() -> None:
    assert Backoff(first=1.0, limit=30.0, jitter=0).delay(100_000) == 30.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first": 0, "limit": 1}, "the first delay must be positive"),
        ({"first": 2, "limit": 1}, "limit=1 is below first=2"),
        ({"first": 1, "limit": 2, "factor": 0.5}, "delays may not shrink"),
        ({"first": 1, "limit": 2, "jitter": 1.5}, "a fraction of the delay"),
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**arguments)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempts count from 1"):
        Backoff(first=1, limit=2).delay(0)


class Flaky:
    """Fails its first `failures` calls with `error`, then returns how many calls it took."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or ConnectionError("not yet")

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


async def test_retry_until_waits_what_the_backoff_says_between_attempts() -> None:
    waits: list[float] = []
    operation = Flaky(failures=4)
    result = await retry_until(operation, backoff=Backoff(first=0.001, limit=0.004, jitter=0),
                               deadline=time.monotonic() + 60, on_retry=lambda error, wait: waits.append(wait))
    assert result == 5
    assert waits == [0.001, 0.002, 0.004, 0.004]


async def test_retry_until_raises_an_error_that_is_not_retryable_at_once() -> None:
    operation = Flaky(failures=3, error=PermissionError("refused"))
    with pytest.raises(PermissionError, match="refused"):
        await retry_until(operation, backoff=Backoff(first=0.001, limit=0.001), deadline=time.monotonic() + 60,
                          retryable=lambda error: not isinstance(error, PermissionError))
    assert operation.calls == 1


async def test_retry_until_raises_the_last_error_once_the_deadline_has_passed() -> None:
    operation = Flaky(failures=1_000_000)
    with pytest.raises(ConnectionError, match="not yet"):
        await retry_until(operation, backoff=Backoff(first=0.001, limit=0.002), deadline=time.monotonic() + 0.05)
    assert operation.calls > 1  # it did retry before giving up


async def test_retry_until_never_waits_past_the_deadline() -> None:
    waits: list[float] = []
    deadline = time.monotonic() + 0.05
    with pytest.raises(ConnectionError):
        await retry_until(Flaky(failures=1_000_000), backoff=Backoff(first=30, limit=30, jitter=0),
                          deadline=deadline, on_retry=lambda error, wait: waits.append(wait))
    assert waits and all(wait <= 0.05 for wait in waits)
