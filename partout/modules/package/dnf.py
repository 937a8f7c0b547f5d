"""dnf and yum: Red Hat family packages by name; state from the rpm database.

Upgradable versions come from one `check-update` per run (exit 100 means "updates exist").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from partout.modules.package.provider import Action, BaseProvider, pinned, run
from partout.modules.package.rpm import query_installed, rpm_scope

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions


def parse_check_update(output: str) -> dict[str, str]:
    """`dnf check-update -q` lines 'name.arch  version  repo' -> name -> version."""
    upgrades: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) != 3 or "." not in parts[0] or line.startswith((" ", "Obsoleting", "Last metadata")):
            continue
        name, _, _ = parts[0].rpartition(".")
        upgrades[name] = parts[1]
        upgrades[parts[0]] = parts[1]
    return upgrades


class DnfProvider(BaseProvider):
    def __init__(self, name: str, tools: tuple[str, ...]) -> None:
        self.name = name
        self.tools = tools

    def scope(self, spec: PackageOptions) -> str:
        return rpm_scope(spec)

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        return query_installed(spec)

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        output = run([self.executable(), "check-update", "--quiet", *self.root_options(spec)], ok=(0, 100))
        return parse_check_update(output)

    def root_options(self, spec: PackageOptions) -> list[str]:
        return [f"--installroot={spec.root}"] if spec.root is not None else []

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = [self.executable(), "--assumeyes", "--quiet", *self.root_options(specs[0])]
        verb = {"install": "install", "upgrade": "upgrade", "remove": "remove"}[action]
        names = [spec.name if action == "remove" else pinned(spec, "-") for spec in specs]
        return [*base, verb, *names]


PROVIDERS = {"dnf": DnfProvider("dnf", ("dnf", "yum")), "yum": DnfProvider("yum", ("yum",))}
