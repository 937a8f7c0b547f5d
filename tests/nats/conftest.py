"""Fixtures of the bus tests: a secured backbone, and a Bus on it as the master."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from natsenv import NatsEnv, secured_backbone

from partout.bus.facade import Bus


@pytest.fixture
def env(tmp_path: Path) -> Iterator[NatsEnv]:
    with secured_backbone(tmp_path) as running:
        yield running


@pytest.fixture
def bus(env: NatsEnv) -> Iterator[Bus]:
    started = Bus.start(env.bus_options())
    try:
        yield started
    finally:
        started.stop()
