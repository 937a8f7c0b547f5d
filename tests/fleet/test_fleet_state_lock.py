"""A second `partout master` on the state dir of a running one exits 2 naming it."""

from __future__ import annotations

from pathlib import Path

from fleetenv import MasterProcess, running_fleet
from helpers import eventually, run_partout

from partout.nats.discovery import is_running


def test_a_second_master_on_a_state_dir_exits_2(tmp_path: Path) -> None:
    with running_fleet(tmp_path, master=False) as fleet:
        master = MasterProcess(fleet)
        master.start()
        try:
            assert eventually(lambda: is_running(tmp_path / "master"), timeout=60)
            second = run_partout("master", "--nats", fleet.urls[0], "--nats-state", str(fleet.nats_state),
                                 "--state-dir", str(tmp_path / "master"), "--environments", str(fleet.environments))
            assert second.returncode == 2, second.stderr
            assert master.process is not None
            assert f"in use by `partout master` (pid {master.process.pid}, NATS {fleet.urls[0]})" in second.stderr
            assert master.process.poll() is None
        finally:
            master.stop()
