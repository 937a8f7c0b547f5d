"""The lvm role against real lvm tools on loop devices, where this machine allows them.

PVs and VGs need only loop devices; LVs also need the kernel's device-mapper, which
containers often lack: those tests skip with the reason. The planning logic is also
tested on its own with state shaped like the tools' JSON reports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import snapshot
from role_support import Roles, changed, converge, failed

from partout.errors import ResourceError
from partout.modules.volume_group import VolumeGroupOptions, plan, size_bytes

ENV = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"}


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "loop devices need root"
    for tool in ("losetup", "pvcreate", "vgcreate", "pvs"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install lvm2)"
    probe = subprocess.run(["losetup", "-f"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"no free loop device: {probe.stderr.strip()}"
    return None


def _device_mapper() -> bool:
    return subprocess.run(["dmsetup", "version"], capture_output=True, check=False, env=ENV).returncode == 0


LOOP_REASON = _why_not()
needs_loop = pytest.mark.skipif(LOOP_REASON is not None, reason=f"lvm on loop devices not possible here: {LOOP_REASON}")


class Disks:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.devices: list[str] = []
        self.vg = f"ptest{uuid.uuid4().hex[:8]}"

    def add(self) -> str:
        image = self.root / f"disk{len(self.devices)}.img"
        with open(image, "wb") as handle:
            handle.truncate(32 << 20)
        device = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True,
                                check=True).stdout.strip()
        self.devices.append(device)
        return device

    def vgs(self) -> dict[str, str]:
        """pv name -> vg name of our devices, as the real tools report them."""
        out = subprocess.run(["pvs", "--noheadings", "-o", "pv_name,vg_name", *self.devices],
                             capture_output=True, text=True, env=ENV, check=False).stdout
        return {fields[0]: (fields[1] if len(fields) > 1 else "") for fields in (line.split() for line in out.splitlines())}


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Disks]:
    root = tmp_path / "disks"
    root.mkdir()
    made = Disks(root)
    try:
        yield made
    finally:
        subprocess.run(["vgremove", "-f", made.vg], capture_output=True, env=ENV, check=False)
        for device in made.devices:
            subprocess.run(["pvremove", "-ff", "-y", device], capture_output=True, env=ENV, check=False)
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


@needs_loop
def test_creates_the_physical_volume_and_the_group_once(roles: Roles, disks: Disks) -> None:
    device = disks.add()
    _, first = converge(roles, f'p2.lvm("{disks.vg}", pvs=["{device}"])\n', disks.root)
    assert changed(first) == [f"volume_group:{disks.vg}"]
    assert disks.vgs() == {device: disks.vg}


@needs_loop
def test_a_new_device_extends_the_group(roles: Roles, disks: Disks) -> None:
    first = disks.add()
    roles.apply(f'p2.lvm("{disks.vg}", pvs=["{first}"])\n')
    second = disks.add()
    noop, report = converge(roles, f'p2.lvm("{disks.vg}", pvs=["{first}", "{second}"])\n', disks.root)
    assert noop.results[0].summary == f"pvcreate --yes {second}; vgextend {disks.vg} {second}"
    assert disks.vgs() == {first: disks.vg, second: disks.vg}


@needs_loop
def test_a_device_of_another_group_is_refused_and_nothing_changes(roles: Roles, disks: Disks) -> None:
    device = disks.add()
    subprocess.run(["vgcreate", disks.vg, device], capture_output=True, env=ENV, check=True)
    before = snapshot(disks.root)
    report = roles.apply(f'p2.lvm("other{disks.vg}", pvs=["{device}"])\n')
    assert failed(report) == {
        f"volume_group:other{disks.vg}": f"{device} already belongs to volume group {disks.vg}, not other{disks.vg}; nothing changed"
    }
    assert snapshot(disks.root) == before


@needs_loop
def test_creates_logical_volumes(roles: Roles, disks: Disks) -> None:
    if not _device_mapper():
        pytest.skip("logical volumes need the kernel's device-mapper, not available here (dmsetup version fails)")
    device = disks.add()
    converge(roles, f'p2.lvm("{disks.vg}", pvs=["{device}"], lvs={{"data": "8M", "rest": "100%FREE"}})\n', disks.root)
    out = subprocess.run(["lvs", "--noheadings", "-o", "lv_name", disks.vg], capture_output=True, text=True, env=ENV).stdout
    assert sorted(out.split()) == ["data", "rest"]


def test_a_missing_device_is_an_error(tmp_path: Path) -> None:
    spec = VolumeGroupOptions(vg="data", pvs=[str(tmp_path / "nodisk")])
    with pytest.raises(ResourceError, match="nodisk does not exist; nothing changed"):
        plan(spec, {"pvs": {}, "vgs": set(), "lvs": {}})


def test_plan_creates_what_is_missing_and_grows_but_never_shrinks(tmp_path: Path) -> None:
    device = tmp_path / "disk"
    device.write_bytes(b"")
    spec = VolumeGroupOptions(vg="data", pvs=[str(device)], lvs={"web": "1G", "logs": "512M", "new": "50%FREE"})
    state = {"pvs": {str(device): "data"}, "vgs": {"data"},
             "lvs": {("data", "web"): 512 << 20, ("data", "logs"): 1 << 30}}
    assert plan(spec, state) == [["lvextend", "-L", "1G", "data/web"], ["lvcreate", "--yes", "-n", "new", "-l", "50%FREE", "data"]]


def test_sizes_read_like_lvcreate_reads_them() -> None:
    assert [size_bytes(size) for size in ("512M", "1g", "2GiB", "10", "1.5G", "100%FREE")] == [
        512 << 20, 1 << 30, 2 << 30, 10 << 20, 3 << 29, None,
    ]
