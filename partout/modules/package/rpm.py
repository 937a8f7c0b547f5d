"""rpm: local .rpm files (`source=`), and the rpm database that dnf, yum and zypper share.

One `rpm -qa` per run and root lists every installed package with its version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from partout.modules.package.provider import Action, LocalFileProvider, run

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

QUERY_FORMAT = r"%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n"


def root_options(spec: PackageOptions) -> list[str]:
    return [f"--root={spec.root}"] if spec.root is not None else []


def parse_query(output: str) -> dict[str, str]:
    """Lines of QUERY_FORMAT -> name (and name.arch) -> [epoch:]version-release."""
    installed: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        name, epoch, version, arch = parts
        if epoch not in ("(none)", "0", ""):
            version = f"{epoch}:{version}"
        installed[name] = version
        installed[f"{name}.{arch}"] = version
    return installed


def query_installed(spec: PackageOptions) -> dict[str, str]:
    return parse_query(run(["rpm", "--query", "--all", *root_options(spec), "--queryformat", QUERY_FORMAT]))


def rpm_scope(spec: PackageOptions) -> str:
    return f"rpm:{spec.root or '/'}"


class RpmProvider(LocalFileProvider):
    name = "rpm"
    tools = ("rpm",)
    suffix = ".rpm"

    def scope(self, spec: PackageOptions) -> str:
        return rpm_scope(spec)

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        return query_installed(spec)

    def source_identity(self, spec: PackageOptions) -> tuple[str, str]:
        output = run(["rpm", "--query", "--package", str(self.source_of(spec)), "--queryformat", QUERY_FORMAT])
        identity = parse_query(output)
        name = next(iter(identity), "")
        return name, identity.get(name, "")

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = [self.executable(), *root_options(specs[0])]
        if action == "remove":
            return [*base, "--erase", *(spec.name for spec in specs)]
        return [*base, "--upgrade", "--replacepkgs", *(str(spec.source) for spec in specs)]


PROVIDERS = {"rpm": RpmProvider()}
