"""Services: systemd units when systemd runs this machine, else /etc/init.d scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from partout.facts.model import ServiceFacts


def systemd_running() -> bool:
    # sd_booted(3): systemd is PID 1 exactly when this directory exists.
    return os.path.isdir("/run/systemd/system")


def services() -> dict[str, ServiceFacts]:
    systemctl = shutil.which("systemctl")
    if systemd_running() and systemctl is not None:
        return _systemd(systemctl)
    return _sysv(Path("/etc"))


def _systemctl_lines(systemctl: str, *arguments: str) -> list[list[str]]:
    result = subprocess.run(
        [systemctl, *arguments, "--type=service", "--no-legend", "--no-pager", "--plain"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    return [line.split() for line in result.stdout.splitlines() if line.strip()]


def _systemd(systemctl: str) -> dict[str, ServiceFacts]:
    enabled: dict[str, bool | None] = {}
    for fields in _systemctl_lines(systemctl, "list-unit-files"):
        if len(fields) >= 2 and fields[0].endswith(".service") and "@" not in fields[0]:
            state = fields[1]
            enabled[fields[0][:-8]] = True if state in ("enabled", "enabled-runtime", "alias") else (
                False if state in ("disabled", "masked", "masked-runtime") else None
            )
    active: dict[str, bool] = {}
    for fields in _systemctl_lines(systemctl, "list-units", "--all"):
        if len(fields) >= 3 and fields[0].endswith(".service"):
            active[fields[0][:-8]] = fields[2] == "active"
    return {
        name: ServiceFacts(provider="systemd", enabled=enabled.get(name), active=active.get(name))
        for name in sorted(set(enabled) | set(active))
    }


def _sysv(etc: Path) -> dict[str, ServiceFacts]:
    try:
        scripts = sorted(entry.name for entry in (etc / "init.d").iterdir() if os.access(entry, os.X_OK))
    except OSError:
        return {}
    started: set[str] = set()
    for level in "2345":
        try:
            started.update(link.name[3:] for link in (etc / f"rc{level}.d").iterdir() if link.name.startswith("S"))
        except OSError:
            continue
    return {
        name: ServiceFacts(provider="sysv", enabled=name in started, active=None)
        for name in scripts
        if name not in ("README", "skeleton", "rc", "rcS", "functions")
    }
