"""systemd: units through systemctl.

Unit-file states come from one `systemctl list-unit-files` per run and root, which works
without a running systemd (`--root` for a temp root); active states from one
`systemctl list-units --all` per run, which needs systemd as PID 1.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.service.provider import ServiceMissing, pid1, run, systemd_is_running

if TYPE_CHECKING:
    from partout.modules.base import RunContext
    from partout.modules.service import ServiceOptions

_ENABLED = {"enabled", "enabled-runtime", "alias"}
_DISABLED = {"disabled", "masked", "masked-runtime"}
_ACTIVE = {"active", "reloading", "activating", "refreshing"}


def unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def systemctl(spec: ServiceOptions) -> list[str]:
    """systemctl pointed at the root; without a running systemd, enablement works offline on '/'."""
    executable = shutil.which("systemctl") or "systemctl"
    if spec.root is not None:
        return [executable, f"--root={spec.root}"]
    if not systemd_is_running():
        return [executable, "--root=/"]
    return [executable]


def parse_unit_files(output: str) -> dict[str, str]:
    """`systemctl list-unit-files --no-legend` -> unit -> state."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1]
    return states


def parse_units(output: str) -> dict[str, str]:
    """`systemctl list-units --all --plain --no-legend` -> unit -> active state."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.lstrip("● ").split()
        if len(parts) >= 3:
            states[parts[0]] = parts[2]
    return states


def unit_file_states(root: Path | None = None) -> dict[str, str]:
    """unit -> enablement state (enabled, disabled, static, masked...) of every unit file,
    from one offline `systemctl list-unit-files`; for the facts gatherer."""
    executable = shutil.which("systemctl") or "systemctl"
    root_option = [f"--root={root}"] if root is not None else ([] if systemd_is_running() else ["--root=/"])
    return parse_unit_files(run([executable, *root_option, "list-unit-files", "--no-legend", "--no-pager"])[1])


class SystemdProvider:
    name = "systemd"

    def _files_key(self, spec: ServiceOptions) -> str:
        return f"service:systemd:{spec.root or '/'}:unit-files"

    def is_enabled(self, spec: ServiceOptions, context: RunContext) -> bool | None:
        states: dict[str, str] = context.cached(self._files_key(spec), lambda: parse_unit_files(
            run([*systemctl(spec), "list-unit-files", "--no-legend", "--no-pager"])[1]))
        state = states.get(unit(spec.name))
        if state is None:
            raise ServiceMissing(f"service {spec.name}: systemd has no unit {unit(spec.name)}"
                                f"{f' under {spec.root}' if spec.root else ''}; install its package first")
        if state in _ENABLED:
            return True
        if state in _DISABLED:
            return False
        return None  # static, indirect, generated, transient: not enabled by links

    def is_running(self, spec: ServiceOptions, context: RunContext) -> bool:
        self._require_running_systemd(spec)
        states: dict[str, str] = context.cached("service:systemd:/:units", lambda: parse_units(
            run([*systemctl(spec), "list-units", "--all", "--plain", "--no-legend", "--no-pager"])[1]))
        return states.get(unit(spec.name)) in _ACTIVE

    def _require_running_systemd(self, spec: ServiceOptions) -> None:
        if spec.root is not None:
            raise ResourceError(f"service {spec.name}: ensure= needs the running system; systemd cannot start "
                                f"or stop units under root={spec.root} (only enabled= works there)")
        if not systemd_is_running():
            raise ResourceError(f"service {spec.name}: systemd is not running here (PID 1 is {pid1()!r}), so "
                                f"units cannot be started or stopped; use enabled= alone or another provider")

    def run_action(self, spec: ServiceOptions, action: str) -> str:
        self._require_running_systemd(spec)
        return run([*systemctl(spec), action, unit(spec.name)])[1]

    def set_enabled(self, spec: ServiceOptions, enabled: bool) -> str:
        return run([*systemctl(spec), "enable" if enabled else "disable", unit(spec.name)])[1]

    def forget(self, spec: ServiceOptions, context: RunContext) -> None:
        context.forget(self._files_key(spec))
        context.forget("service:systemd:/:units")


PROVIDER = SystemdProvider()
