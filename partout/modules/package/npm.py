"""npm: Node.js packages, global (`npm -g`) or in a prefix's node_modules.

Installed packages are read in-process from `node_modules/*/package.json` (and
`@scope/*`), which is what `npm ls` reports, without starting node.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.package.provider import Action, BaseProvider, run, wanted_version

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions


@lru_cache(maxsize=1)
def _global_root() -> Path:
    return Path(run(["npm", "root", "--global"]).strip())


def modules_directory(spec: PackageOptions) -> Path:
    if spec.prefix is None:
        return _global_root() if spec.global_install else Path.cwd() / "node_modules"
    return spec.prefix / "lib" / "node_modules" if spec.global_install else spec.prefix / "node_modules"


def read_node_modules(directory: Path) -> dict[str, str]:
    installed: dict[str, str] = {}
    for manifest in [*directory.glob("*/package.json"), *directory.glob("@*/*/package.json")]:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a half-written package is not installed
        if isinstance(data, dict) and "name" in data and "version" in data:
            installed[str(data["name"])] = str(data["version"])
    return installed


def parse_outdated(output: str) -> dict[str, str]:
    """`npm outdated --json` -> name -> latest version."""
    data = json.loads(output or "{}")
    return {name: str(row.get("latest", "")) for name, row in data.items() if isinstance(row, dict)}


def target(spec: PackageOptions) -> str:
    if spec.source is not None:
        return str(spec.source)
    if spec.ensure == "latest":
        return f"{spec.name}@latest"
    version = wanted_version(spec)
    if version is not None:
        return f"{spec.name}@{version}"
    return spec.name


def location_options(spec: PackageOptions) -> list[str]:
    options = ["--global"] if spec.global_install else []
    if spec.prefix is not None:
        options += ["--prefix", str(spec.prefix)]
    return options


class NpmProvider(BaseProvider):
    name = "npm"
    tools = ("npm",)

    def scope(self, spec: PackageOptions) -> str:
        return f"npm:{spec.prefix or '-'}:{'global' if spec.global_install else 'local'}"

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        return read_node_modules(modules_directory(spec))

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        # npm outdated exits 1 when something is outdated
        return parse_outdated(run([self.executable(), "outdated", "--json", *location_options(spec)], ok=(0, 1)))

    def source_identity(self, spec: PackageOptions) -> tuple[str, str]:
        assert spec.source is not None
        try:
            if spec.source.is_dir():
                data = json.loads((spec.source / "package.json").read_text(encoding="utf-8"))
            else:
                with tarfile.open(spec.source) as archive:
                    member = archive.extractfile("package/package.json")
                    if member is None:
                        raise KeyError("package/package.json")
                    data = json.loads(member.read())
        except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError) as error:
            raise ResourceError(f"npm source {spec.source}: cannot read its package.json: {error}") from error
        return str(data.get("name", "")), str(data.get("version", ""))

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = [self.executable(), "--no-audit", "--no-fund", "--loglevel=error", *location_options(specs[0])]
        if action == "remove":
            return [*base, "uninstall", *(spec.name for spec in specs)]
        return [*base, "install", *(target(spec) for spec in specs)]


PROVIDERS = {"npm": NpmProvider()}
