"""The logmsg and sleep roles: report entries that change nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from role_support import Roles, changed, converge, result

from partout.errors import PolicyError
from partout.report import Status


def test_logmsg_puts_the_message_in_the_report_and_the_log(roles: Roles, root: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partout.modules.message")
    converge(roles, 'p2.logmsg("disk is nearly full", level="warning")\n', root)
    report = roles.apply('p2.logmsg("disk is nearly full", level="warning")\n')
    assert result(report, "message:disk is nearly full").status is Status.OK
    records = [record for record in caplog.records if record.name == "partout.modules.message"]
    assert {record.levelname for record in records} == {"WARNING"}
    assert {getattr(record, "policy_message") for record in records} == {"disk is nearly full"}
    # noop, first and second run of converge, then this run
    assert len(records) == 4


def test_logmsg_refuses_an_unknown_level(roles: Roles) -> None:
    with pytest.raises(PolicyError, match="level"):
        roles.compile('p2.logmsg("x", level="loud")\n')


def test_sleep_waits_between_the_resources_around_it(roles: Roles, root: Path) -> None:
    report = roles.apply(
        f'p2.file("{root}/before", content="")\n'
        'p2.sleep("settle", seconds=0.2)\n'
        f'p2.file("{root}/after", content="")\n'
    )
    assert changed(report) == [f"file:{root}/before", f"file:{root}/after"]
    assert result(report, "pause:settle").status is Status.OK
    # time.sleep never returns early, so this lower bound holds on any machine
    assert result(report, "pause:settle").duration >= 0.2
    assert (root / "after").stat().st_mtime_ns >= (root / "before").stat().st_mtime_ns


def test_sleep_takes_its_seconds_from_the_title_and_changes_nothing(roles: Roles, root: Path) -> None:
    converge(roles, 'p2.sleep("0.05")\n', root)


@pytest.mark.timeout(60)
def test_sleep_does_not_wait_under_noop(roles: Roles) -> None:
    # An hour: were noop to wait, the test would time out.
    report = roles.apply('p2.sleep("3600")\n', noop=True)
    assert result(report, "pause:3600").status is Status.OK


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('p2.sleep("soon")', "sleep: the title 'soon' is not a number of seconds; give seconds="),
        ('p2.sleep("x", seconds=7200)', "less than or equal to 3600"),
        ('p2.sleep("x", seconds=-1)', "greater than or equal to 0"),
    ],
)
def test_sleep_refuses_bad_durations(roles: Roles, call: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        roles.compile(call + "\n")
    assert message in str(caught.value)
