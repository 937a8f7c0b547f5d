"""What every service provider offers, the one way they run tools, and how one is chosen."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from partout.errors import ResourceError

if TYPE_CHECKING:
    from partout.modules.base import RunContext
    from partout.modules.service import ServiceOptions


class ServiceMissing(ResourceError):
    """The service is not installed (no unit, no init script)."""


class ServiceProvider(Protocol):
    name: str

    def is_running(self, spec: ServiceOptions, context: RunContext) -> bool: ...

    def is_enabled(self, spec: ServiceOptions, context: RunContext) -> bool | None:
        """True/False, or None when enablement is not the operator's to change (static units)."""
        ...

    def run_action(self, spec: ServiceOptions, action: str) -> str:
        """start, stop, restart or reload the service now."""
        ...

    def set_enabled(self, spec: ServiceOptions, enabled: bool) -> str: ...

    def forget(self, spec: ServiceOptions, context: RunContext) -> None:
        """Drop cached state after a change."""
        ...


def run(argv: Sequence[str], *, ok: tuple[int, ...] = (0,), timeout: float = 300) -> tuple[int, str]:
    """Run a tool; return (exit code, output); raise ResourceError with its output on failure."""
    try:
        completed = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                   env={**os.environ, "LC_ALL": "C"}, stdin=subprocess.DEVNULL)
    except FileNotFoundError as error:
        raise ResourceError(f"{argv[0]} is not installed on this machine") from error
    except subprocess.TimeoutExpired as error:
        raise ResourceError(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from error
    output = "\n".join(part for part in (completed.stdout.strip(), completed.stderr.strip()) if part)
    if completed.returncode not in ok:
        raise ResourceError(f"{' '.join(argv)} exited with {completed.returncode}: {output}")
    return completed.returncode, output


def pid1() -> str:
    try:
        return Path("/proc/1/comm").read_text().strip()
    except OSError:
        return "unknown"


def systemd_is_running() -> bool:
    """sd_booted(): systemd is PID 1 when /run/systemd/system exists."""
    return Path("/run/systemd/system").is_dir()


def _family(facts: Any) -> str:
    os_facts = facts.get("os") if isinstance(facts, dict) else getattr(facts, "os", None)
    family = os_facts.get("family") if isinstance(os_facts, dict) else getattr(os_facts, "family", None)
    return str(family or "").lower()


def provider_name(spec: ServiceOptions, facts: Any) -> str:
    """The provider option, else: openrc on Alpine/Gentoo, systemd when it runs, sysv when
    an init script exists, systemd when systemctl is installed, else sysv."""
    if spec.provider is not None:
        return spec.provider
    if _family(facts) in ("alpine", "gentoo"):
        return "openrc"
    if spec.root is None and systemd_is_running():
        return "systemd"
    if ((spec.root or Path("/")) / "etc" / "init.d" / spec.name).is_file():
        return "sysv"
    return "systemd" if shutil.which("systemctl") else "sysv"


def choose(spec: ServiceOptions, facts: Any) -> ServiceProvider:
    name = provider_name(spec, facts)
    if name == "systemd":
        from partout.modules.service.systemd import PROVIDER as systemd
        return systemd
    if name == "openrc":
        from partout.modules.service.openrc import PROVIDER as openrc
        return openrc
    from partout.modules.service.sysv import PROVIDER as sysv
    return sysv
