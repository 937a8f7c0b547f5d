"""apt: Debian and Ubuntu packages by name through apt-get, state from the dpkg database.

Upgradable versions come from one simulated `apt-get dist-upgrade` per run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from partout.modules.package.dpkg import NONINTERACTIVE, admindir, dpkg_scope, log_path, read_leftovers, read_status
from partout.modules.package.provider import Action, BaseProvider, pinned, run

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

# "Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64]) []"
_INST = re.compile(r"^Inst (\S+) \[(\S+)\] \((\S+)", re.MULTILINE)


def apt_options(spec: PackageOptions) -> list[str]:
    """Point apt and the dpkg it runs at another root or database."""
    options: list[str] = []
    if spec.root is not None:
        options += ["-o", f"Dir={spec.root}", "-o", f"DPkg::Options::=--root={spec.root}",
                    "-o", f"DPkg::Options::=--log={log_path(spec.root)}"]
    if spec.root is not None or spec.admindir is not None:
        options += ["-o", f"Dir::State::status={admindir(spec) / 'status'}",
                    "-o", f"DPkg::Options::=--admindir={admindir(spec)}"]
    return options


def parse_simulation(output: str) -> dict[str, str]:
    """`apt-get -s dist-upgrade` -> name -> candidate version, for installed packages only."""
    return {name: candidate for name, _, candidate in _INST.findall(output)}


class AptProvider(BaseProvider):
    name = "apt"
    tools = ("apt-get",)
    purges = True

    def leftovers(self, spec: PackageOptions) -> set[str]:
        return read_leftovers(spec)

    def scope(self, spec: PackageOptions) -> str:
        return dpkg_scope(spec)  # the same database as dpkg's, so both share one cached read

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        return read_status(spec)

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        output = run([self.executable(), "-s", "-q", *apt_options(spec), "dist-upgrade"], environment=NONINTERACTIVE)
        return parse_simulation(output)

    def environment(self) -> Mapping[str, str]:
        return NONINTERACTIVE

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = [self.executable(), "-y", "-q", "-o", "Dpkg::Options::=--force-confdef",
                "-o", "Dpkg::Options::=--force-confold", *apt_options(specs[0])]
        if action in ("remove", "purge"):
            return [*base, action, *(spec.name for spec in specs)]
        upgrade = ["--only-upgrade"] if action == "upgrade" else []
        return [*base, "install", *upgrade, *(pinned(spec) for spec in specs)]


PROVIDERS = {"apt": AptProvider()}
