"""apk: Alpine packages; state read in-process from `<root>/lib/apk/db/installed`.

Upgradable versions come from one `apk version -l '<'` per run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.package.provider import Action, BaseProvider, pinned, run

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

# "busybox-1.36.1-r15            < 1.36.1-r16"
_OUTDATED = re.compile(r"^(\S+?)-(\d[^-\s]*-r\d+)\s+<\s+(\S+)", re.MULTILINE)


def database(spec: PackageOptions) -> Path:
    return (spec.root or Path("/")) / "lib" / "apk" / "db" / "installed"


def parse_installed(text: str) -> dict[str, str]:
    """The apk database (stanzas of 'P:name', 'V:version' lines) -> name -> version."""
    installed: dict[str, str] = {}
    name: str | None = None
    for line in text.splitlines():
        if line.startswith("P:"):
            name = line[2:]
        elif line.startswith("V:") and name is not None:
            installed[name] = line[2:]
        elif not line:
            name = None
    return installed


def parse_version_list(output: str) -> dict[str, str]:
    return {name: newer for name, _, newer in _OUTDATED.findall(output)}


class ApkProvider(BaseProvider):
    name = "apk"
    tools = ("apk",)

    def scope(self, spec: PackageOptions) -> str:
        return f"apk:{spec.root or '/'}"

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        try:
            return parse_installed(database(spec).read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError as error:
            raise ResourceError(f"package {spec.name}: no apk database at {database(spec)}") from error

    def base(self, spec: PackageOptions) -> list[str]:
        root = ["--root", str(spec.root)] if spec.root is not None else []
        return [self.executable(), "--no-progress", *root]

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        return parse_version_list(run([*self.base(spec), "version", "-l", "<"]))

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = self.base(specs[0])
        if action == "remove":
            return [*base, "del", *(spec.name for spec in specs)]
        upgrade = ["--upgrade"] if action == "upgrade" else []
        return [*base, "add", *upgrade, *(pinned(spec) for spec in specs)]


PROVIDERS = {"apk": ApkProvider()}
