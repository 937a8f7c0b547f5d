"""sysv: LSB init scripts in <root>/etc/init.d and their rc?.d links.

Running state is the script's own `status` (LSB: 0 running, 3 stopped). Enablement is the
presence of S links in the start runlevels; on the live system update-rc.d or chkconfig
change them, under a `root=` Partout makes the links itself (those tools have no root option).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from partout.modules.service.provider import ServiceMissing, run

if TYPE_CHECKING:
    from partout.modules.base import RunContext
    from partout.modules.service import ServiceOptions

_DEFAULT_START = "2345"
_DEFAULT_STOP = "016"


def etc(spec: ServiceOptions) -> Path:
    return (spec.root or Path("/")) / "etc"


def script(spec: ServiceOptions) -> Path:
    path = etc(spec) / "init.d" / spec.name
    if not path.is_file():
        raise ServiceMissing(f"service {spec.name}: no init script {path}; install its package first")
    return path


def runlevels(path: Path) -> tuple[str, str]:
    """Default-Start / Default-Stop from the script's LSB header, else Debian's defaults."""
    text = path.read_text(errors="replace")
    start = re.search(r"^#\s*Default-Start:[ \t]*(.*)$", text, re.MULTILINE)
    stop = re.search(r"^#\s*Default-Stop:[ \t]*(.*)$", text, re.MULTILINE)
    return (("".join(start.group(1).split()) if start else _DEFAULT_START),
            ("".join(stop.group(1).split()) if stop else _DEFAULT_STOP))


def links(spec: ServiceOptions, kind: str) -> list[Path]:
    return sorted(etc(spec).glob(f"rc[0-6S].d/{kind}[0-9][0-9]{spec.name}"))


class SysvProvider:
    name = "sysv"

    def is_running(self, spec: ServiceOptions, context: RunContext) -> bool:
        code, _ = run([str(script(spec)), "status"], ok=(0, 1, 2, 3, 4))
        return code == 0

    def is_enabled(self, spec: ServiceOptions, context: RunContext) -> bool | None:
        start, _ = runlevels(script(spec))
        return any(link.parent.name[2] in start for link in links(spec, "S"))

    def run_action(self, spec: ServiceOptions, action: str) -> str:
        return run([str(script(spec)), action])[1]

    def set_enabled(self, spec: ServiceOptions, enabled: bool) -> str:
        path = script(spec)
        if spec.root is None and shutil.which("update-rc.d"):
            if enabled:
                run(["update-rc.d", spec.name, "defaults"])
            return run(["update-rc.d", spec.name, "enable" if enabled else "disable"])[1]
        if spec.root is None and shutil.which("chkconfig"):
            return run(["chkconfig", spec.name, "on" if enabled else "off"])[1]
        self._link(spec, path, enabled)
        return ""

    def _link(self, spec: ServiceOptions, path: Path, enabled: bool) -> None:
        """What update-rc.d does, under a root: S links in start runlevels when enabled,
        K links there when disabled, K links in stop runlevels always."""
        start, stop = runlevels(path)
        for level in start:
            directory = etc(spec) / f"rc{level}.d"
            directory.mkdir(exist_ok=True)
            for old in [*directory.glob(f"S[0-9][0-9]{spec.name}"), *directory.glob(f"K[0-9][0-9]{spec.name}")]:
                old.unlink()
            (directory / f"{'S' if enabled else 'K'}01{spec.name}").symlink_to(f"../init.d/{spec.name}")
        for level in stop:
            directory = etc(spec) / f"rc{level}.d"
            directory.mkdir(exist_ok=True)
            if not list(directory.glob(f"K[0-9][0-9]{spec.name}")):
                (directory / f"K01{spec.name}").symlink_to(f"../init.d/{spec.name}")

    def forget(self, spec: ServiceOptions, context: RunContext) -> None:
        return None  # nothing cached: status is asked of the script itself


PROVIDER = SysvProvider()
