"""The `fleet` fixture of the attack tests: a secured partout-nats and a real master
answering its auth callout (tests/fleet/fleetenv.py), torn down after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from securityenv import Fleet, running_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running
