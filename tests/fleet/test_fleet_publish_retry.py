"""A policy publish the bus refuses (its only node is down) is retried with backoff until it
lands, logged as a bus failure and never recorded as a compile error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fleetenv import approved, running_fleet
from helpers import eventually


@pytest.mark.slow
def test_a_policy_published_while_nats_is_down_lands_once_it_is_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partout.master")
    with running_fleet(tmp_path) as fleet:
        agent = fleet.agent("prod-1")
        assert approved(agent)
        assert eventually(lambda: agent.content() == "production 1\n", timeout=30)
        node = fleet.backbone.nodes[0]
        node.kill()
        fleet.write_policy("production", "production 2\n")
        assert eventually(lambda: "policy publish for env production failed: BusError" in caplog.text, timeout=60)
        assert "; retrying in 1 s" in caplog.text
        node.start()
        assert eventually(lambda: agent.content() == "production 2\n", timeout=60)
        assert "policy publish for env production went through after" in caplog.text
        assert fleet.master is not None and fleet.master.store is not None
        assert fleet.master.store.policy_errors("production", 20) == []
    assert "does not compile" not in caplog.text
