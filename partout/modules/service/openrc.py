"""openrc: Alpine and Gentoo services through rc-service and rc-update.

Enablement is the `<root>/etc/runlevels/default/<name>` link, read directly; on the live
system rc-update changes it, under a `root=` Partout makes the link itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.service.provider import ServiceMissing, run

if TYPE_CHECKING:
    from partout.modules.base import RunContext
    from partout.modules.service import ServiceOptions

RUNLEVEL = "default"


def runlevel_link(spec: ServiceOptions) -> Path:
    return (spec.root or Path("/")) / "etc" / "runlevels" / RUNLEVEL / spec.name


def status_command(name: str) -> list[str]:
    return ["rc-service", name, "status"]


def action_command(name: str, action: str) -> list[str]:
    return ["rc-service", name, action]


def enable_command(name: str, enabled: bool) -> list[str]:
    return ["rc-update", "add" if enabled else "del", name, RUNLEVEL]


class OpenrcProvider:
    name = "openrc"

    def _live(self, spec: ServiceOptions) -> None:
        if spec.root is not None:
            raise ResourceError(f"service {spec.name}: openrc cannot start or stop services under "
                                f"root={spec.root} (only enabled= works there)")

    def is_running(self, spec: ServiceOptions, context: RunContext) -> bool:
        self._live(spec)
        code, _ = run(status_command(spec.name), ok=(0, 1, 3, 32))
        return code == 0

    def is_enabled(self, spec: ServiceOptions, context: RunContext) -> bool | None:
        script = (spec.root or Path("/")) / "etc" / "init.d" / spec.name
        if not script.is_file():
            raise ServiceMissing(f"service {spec.name}: no init script {script}; install its package first")
        return runlevel_link(spec).is_symlink() or runlevel_link(spec).exists()

    def run_action(self, spec: ServiceOptions, action: str) -> str:
        self._live(spec)
        return run(action_command(spec.name, action))[1]

    def set_enabled(self, spec: ServiceOptions, enabled: bool) -> str:
        if spec.root is None and shutil.which("rc-update"):
            return run(enable_command(spec.name, enabled))[1]
        link = runlevel_link(spec)
        if enabled:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"/etc/init.d/{spec.name}")
        else:
            link.unlink(missing_ok=True)
        return ""

    def forget(self, spec: ServiceOptions, context: RunContext) -> None:
        return None  # nothing cached


PROVIDER = OpenrcProvider()
