"""zypper: SUSE packages by name; state from the rpm database.

Upgradable versions come from one `zypper --xmlout list-updates` per run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.package.provider import Action, BaseProvider, pinned, run
from partout.modules.package.rpm import query_installed, rpm_scope

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions


def parse_list_updates(output: str) -> dict[str, str]:
    """`zypper --xmlout list-updates` -> name -> edition of each package update."""
    try:
        document = ElementTree.fromstring(output)
    except ElementTree.ParseError as error:
        raise ResourceError(f"zypper list-updates printed something that is not XML: {error}") from error
    return {update.attrib["name"]: update.attrib.get("edition", "")
            for update in document.iter("update") if update.attrib.get("kind", "package") == "package"}


class ZypperProvider(BaseProvider):
    name = "zypper"
    tools = ("zypper",)

    def scope(self, spec: PackageOptions) -> str:
        return rpm_scope(spec)

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        return query_installed(spec)

    def base(self, spec: PackageOptions) -> list[str]:
        root = [f"--root={spec.root}"] if spec.root is not None else []
        return [self.executable(), "--non-interactive", *root]

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        return parse_list_updates(run([*self.base(spec), "--xmlout", "list-updates"]))

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = self.base(specs[0])
        if action == "remove":
            return [*base, "remove", *(spec.name for spec in specs)]
        if action == "upgrade":
            return [*base, "update", *(spec.name for spec in specs)]
        return [*base, "install", "--auto-agree-with-licenses", *(pinned(spec) for spec in specs)]


PROVIDERS = {"zypper": ZypperProvider()}
