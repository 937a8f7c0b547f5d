"""The `[master.events]` section: the example documents the defaults, and a bad number is
refused with the field that holds it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from partout.errors import StateError
from partout.master.config import load_config
from partout.master.events_config import EventsConfig

EXAMPLE = Path(__file__).parents[2] / "config" / "master.toml"


def test_the_example_config_spells_out_the_defaults() -> None:
    assert load_config(EXAMPLE).events == EventsConfig()


def test_the_defaults_are_the_originals() -> None:
    events = EventsConfig()
    assert events.throttle.fleet.thresholds == (500, 2000, 5000, 10000)
    assert (events.throttle.splay, events.throttle.alive_period) == (0.05, 86400)
    assert (events.retention.raw, events.retention.hourly, events.retention.daily) == (
        timedelta(days=1), timedelta(days=7), timedelta(days=31))
    assert events.retention.weekly is None


def test_retention_and_throttle_numbers_are_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.toml"
    path.write_text("[master]\nnats_state = '/tmp/n'\n[master.events.retention]\nraw = 7200\nweekly = 'P365D'\n"
                    "[master.events.throttle.agent]\nperiod_max = 600\n")
    events = load_config(path).events
    assert events.retention.raw == timedelta(hours=2) and events.retention.weekly == timedelta(days=365)
    assert events.throttle.agent.period_max == 600


@pytest.mark.parametrize(("section", "text", "field"), [
    ("throttle.fleet", "thresholds = [2000, 500, 5000, 10000]", "thresholds"),
    ("throttle.agent", "period_min = 900\nperiod_max = 60", "period_min"),
    ("retention", "raw = 'P10D'\nhourly = 'P7D'", "retention"),
    ("", "advice_interval = 0", "advice_interval"),
])
def test_a_bad_number_is_refused_naming_its_field(tmp_path: Path, section: str, text: str, field: str) -> None:
    path = tmp_path / "master.toml"
    table = f"[master.events.{section}]" if section else "[master.events]"
    path.write_text(f"[master]\nnats_state = '/tmp/n'\n{table}\n{text}\n")
    with pytest.raises(StateError, match=field):
        load_config(path)
