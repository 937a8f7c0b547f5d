"""The `volume_group` directive (wrapped by the `lvm` role): LVM physical volumes, one
volume group on them, and logical volumes in it, through the lvm tools.

`check` reads the state with three report calls (`pvs`, `vgs`, `lvs` with
`--reportformat json`, once per run, cached) and plans only what is missing: pvcreate
for devices that are not PVs, vgcreate (or vgextend for PVs not yet in the group),
lvcreate for missing LVs and lvextend for LVs smaller than asked. Nothing is ever
removed or shrunk. A device that belongs to another volume group is an error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.base import Change, Module, ModuleOptions, RunContext, Watch, Watching

_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+-]*$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?$", re.IGNORECASE)
_EXTENTS = re.compile(r"^\d+%(VG|FREE|PVS)$", re.IGNORECASE)
_UNITS = {"": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
_CACHE = "volume_group:report"
TIMEOUT = 120.0


def size_bytes(size: str) -> int | None:
    """Bytes of an absolute size ('512M', '10G', a bare number is MiB as for lvcreate -L);
    None for a share of extents ('100%FREE')."""
    match = _SIZE.match(size.strip())
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class VolumeGroupOptions(ModuleOptions):
    """LVM physical volumes, a volume group on them, and logical volumes in it."""

    title_field = "vg"

    vg: str = Field(description="Volume group name (the title).")
    pvs: list[str] = Field(description="Block devices to make physical volumes of the group, e.g. ['/dev/sdb'].", min_length=1)
    lvs: dict[str, str] = Field(
        default_factory=dict,
        description="Logical volumes, name -> size: '10G', '512M' (binary units; grown, never shrunk) or '100%FREE', '50%VG' (at creation only).",
    )

    @field_validator("vg")
    @classmethod
    def _vg_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"volume group name {name!r} may hold letters, digits and _ . + - only")
        return name

    @field_validator("pvs")
    @classmethod
    def _devices(cls, devices: list[str]) -> list[str]:
        for device in devices:
            if not device.startswith("/"):
                raise ValueError(f"physical volume {device!r} must be a device path such as /dev/sdb")
        return devices

    @field_validator("lvs")
    @classmethod
    def _sizes(cls, lvs: dict[str, str]) -> dict[str, str]:
        for name, size in lvs.items():
            if not _NAME.match(name):
                raise ValueError(f"logical volume name {name!r} may hold letters, digits and _ . + - only")
            if size_bytes(str(size)) is None and not _EXTENTS.match(str(size)):
                raise ValueError(f"size {size!r} of {name!r} is not a size like '10G', '512M' or '100%FREE'")
        return {name: str(size) for name, size in lvs.items()}


def _lvm(*arguments: str) -> str:
    tool = shutil.which(arguments[0])
    if tool is None:
        raise ResourceError(f"{arguments[0]} not found: the lvm tools are not installed (package lvm2)")
    environment = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"}
    try:
        result = subprocess.run(
            [tool, *arguments[1:]], capture_output=True, text=True, timeout=TIMEOUT,
            stdin=subprocess.DEVNULL, env=environment, check=False,
        )
    except subprocess.TimeoutExpired:
        raise ResourceError(f"{' '.join(arguments)} timed out after {TIMEOUT:g} s") from None
    if result.returncode != 0:
        detail = " / ".join(result.stderr.strip().splitlines()[-3:])
        raise ResourceError(f"{' '.join(arguments)} exited with code {result.returncode}: {detail}")
    return result.stdout


def _report(kind: str, columns: str) -> list[dict[str, Any]]:
    text = _lvm(f"{kind}s", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", columns)
    try:
        return list(json.loads(text)["report"][0][kind])
    except (ValueError, KeyError, IndexError) as exc:
        raise ResourceError(f"cannot read the output of {kind}s --reportformat json: {exc}") from exc


def read_state() -> dict[str, Any]:
    """{"pvs": {device: vg or ""}, "vgs": set of names, "lvs": {(vg, lv): bytes}}."""
    return {
        "pvs": {row["pv_name"]: row.get("vg_name", "") for row in _report("pv", "pv_name,vg_name")},
        "vgs": {row["vg_name"] for row in _report("vg", "vg_name")},
        "lvs": {(row["vg_name"], row["lv_name"]): int(row["lv_size"]) for row in _report("lv", "vg_name,lv_name,lv_size")},
    }


def _device(path: str) -> str:
    """The name lvm reports for a device: symlinks (/dev/disk/by-id/...) resolved."""
    if not os.path.exists(path):
        raise ResourceError(f"device {path} does not exist; nothing changed")
    return os.path.realpath(path)


def plan(spec: VolumeGroupOptions, state: dict[str, Any]) -> list[list[str]]:
    """The lvm commands that make the state match the spec, in order."""
    steps: list[list[str]] = []
    devices = [_device(path) for path in spec.pvs]
    for device in devices:
        owner = state["pvs"].get(device)
        if owner is None:
            steps.append(["pvcreate", "--yes", device])
        elif owner and owner != spec.vg:
            raise ResourceError(f"{device} already belongs to volume group {owner}, not {spec.vg}; nothing changed")
    if spec.vg not in state["vgs"]:
        steps.append(["vgcreate", spec.vg, *devices])
    else:
        missing = [device for device in devices if state["pvs"].get(device) != spec.vg]
        if missing:
            steps.append(["vgextend", spec.vg, *missing])
    for name, size in spec.lvs.items():
        current = state["lvs"].get((spec.vg, name))
        wanted = size_bytes(size)
        size_option = ["-L", size] if wanted is not None else ["-l", size]
        if current is None:
            steps.append(["lvcreate", "--yes", "-n", name, *size_option, spec.vg])
        elif wanted is not None and current < wanted:
            steps.append(["lvextend", *size_option, f"{spec.vg}/{name}"])
    return steps


def check(spec: VolumeGroupOptions, context: RunContext) -> Change | None:
    state = context.cached(_CACHE, read_state)
    steps = plan(spec, state)
    if not steps:
        return None
    return Change(summary="; ".join(" ".join(step) for step in steps), data={"steps": steps})


def apply(spec: VolumeGroupOptions, change: Change, context: RunContext) -> str | None:
    # Plan again from fresh state: another resource may have changed lvm since check.
    context.forget(_CACHE)
    steps = plan(spec, read_state())
    output = []
    try:
        for step in steps:
            output.append(_lvm(*step).strip())
    finally:
        context.forget(_CACHE)
    return "\n".join(line for line in output if line) or None


# The LVM tools report state only when asked; a minute keeps their cost out of sight.
POLL_INTERVAL = 60.0


def watch(spec: VolumeGroupOptions, context: RunContext) -> Watch:
    return Watch(interval=POLL_INTERVAL)


MODULE = Module(
    name="volume_group",
    options=VolumeGroupOptions,
    check=check,
    apply=apply,
    watch=watch,
    watching=Watching("polling", f"pvs/vgs/lvs every {POLL_INTERVAL:.0f} s"),
    concurrent=False,
    summary="LVM physical volumes, a volume group and logical volumes, created or grown (the lvm role wraps it).",
)
