"""The master gives its streams and policy bucket min(3, cluster size) replicas, asked of
the servers: it raises those of existing streams, at start and while it runs, never lowers
them by itself, and an explicit `stream_replicas` is applied as is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fleetenv import Fleet, running_fleet
from natsenv import stream_replicas

from partout.master.daemon import Master
from partout.master.replicas import ReplicaKeeper, cluster_size
from partout.nats.launcher import start_backbone


def _replicas(fleet: Fleet) -> set[int]:
    return {replicas for replicas, _ in stream_replicas(fleet.urls, fleet.nats_state / "keys" / "master.nk").values()}


@pytest.mark.slow
def test_replicas_follow_the_cluster_size_and_are_raised_on_existing_streams(tmp_path: Path) -> None:
    (tmp_path / "sample-facts.json").write_text(json.dumps({"hostname": "sample", "custom": {"root": "/tmp/x"}}))
    with start_backbone(tmp_path / "nats", port=0, cluster_size=3, log_to_files=True) as backbone:
        fleet = Fleet(tmp_path, backbone)
        fleet.write_policy("production", "production 1\n")
        explicit = Master(fleet.master_config().model_copy(update={"stream_replicas": 1})).start(timeout=60)
        try:
            assert _replicas(fleet) == {1}
        finally:
            explicit.stop()

        master = Master(fleet.master_config()).start(timeout=60)  # no replica option
        try:
            assert cluster_size(master._system_bus) == 3
            assert _replicas(fleet) == {3}  # raised at start
            master.bus.ensure_streams(1).get(timeout=60)  # as an explicit option would
            assert _replicas(fleet) == {1}
            assert ReplicaKeeper(master._system_bus, master.bus, 1).check() == 3  # what the master does every minute
            assert _replicas(fleet) == {3}
            master.bus.ensure_streams(1, keep_higher=True).get(timeout=60)  # automatic: never lowered
            assert _replicas(fleet) == {3}
        finally:
            master.stop()


def test_a_single_server_is_a_cluster_of_one(tmp_path: Path) -> None:
    with running_fleet(tmp_path) as fleet:
        assert fleet.master is not None
        assert cluster_size(fleet.master._system_bus) == 1
        assert _replicas(fleet) == {1}
