"""dpkg: local .deb files (`source=`), and the dpkg database that apt shares.

The database is read in-process from `<admindir>/status` (no subprocess); `root=` and
`admindir=` map to dpkg's `--root`/`--admindir` so tests use a temp root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.package.provider import Action, LocalFileProvider, run

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive"}


def admindir(spec: PackageOptions) -> Path:
    if spec.admindir is not None:
        return spec.admindir
    return (spec.root or Path("/")) / "var" / "lib" / "dpkg"


def log_path(root: Path) -> Path:
    """dpkg's log inside the root: --root moves the database, not the log, so without
    this a temp-root run would append to the host's /var/log/dpkg.log."""
    return root / "var" / "log" / "dpkg.log"


def dpkg_options(spec: PackageOptions) -> list[str]:
    options: list[str] = []
    if spec.root is not None:
        options += [f"--root={spec.root}", f"--log={log_path(spec.root)}"]
    if spec.admindir is not None:
        options.append(f"--admindir={spec.admindir}")
    return options


def _stanzas(text: str, state: str) -> list[dict[str, str]]:
    """The fields of every package whose status ends in `state` (installed, config-files)."""
    found = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and fields.get("Status", "").split()[-1:] == [state]:
            found.append(fields)
    return found


def parse_status(text: str) -> dict[str, str]:
    """name (and name:arch) -> version of every package whose status is 'installed'."""
    installed: dict[str, str] = {}
    for fields in _stanzas(text, "installed"):
        version = fields.get("Version", "")
        installed[fields["Package"]] = version
        if "Architecture" in fields:
            installed[f"{fields['Package']}:{fields['Architecture']}"] = version
    return installed


def _status_text(spec: PackageOptions) -> str:
    path = admindir(spec) / "status"
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as error:
        raise ResourceError(f"package {spec.name}: no dpkg database at {path}; is this a Debian system "
                            f"(or set root=/admindir=)?") from error


def read_status(spec: PackageOptions) -> dict[str, str]:
    return parse_status(_status_text(spec))


def read_leftovers(spec: PackageOptions) -> set[str]:
    """Packages removed whose configuration files remain (status config-files)."""
    return {fields["Package"] for fields in _stanzas(_status_text(spec), "config-files")}


def dpkg_scope(spec: PackageOptions) -> str:
    """The cache key of one dpkg database: apt and dpkg must agree on it to share one read."""
    return f"dpkg:{admindir(spec)}:{spec.root or '/'}"


class DpkgProvider(LocalFileProvider):
    name = "dpkg"
    tools = ("dpkg",)
    suffix = ".deb"
    purges = True

    def leftovers(self, spec: PackageOptions) -> set[str]:
        return read_leftovers(spec)

    def scope(self, spec: PackageOptions) -> str:
        return dpkg_scope(spec)

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        return read_status(spec)

    def source_identity(self, spec: PackageOptions) -> tuple[str, str]:
        fields = run(["dpkg-deb", "--field", str(self.source_of(spec)), "Package", "Version"]).splitlines()
        values = dict(line.split(": ", 1) for line in fields if ": " in line)
        return values.get("Package", ""), values.get("Version", "")

    def environment(self) -> Mapping[str, str]:
        return NONINTERACTIVE

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        base = [self.executable(), "--force-confdef", "--force-confold", *dpkg_options(specs[0])]
        if action in ("remove", "purge"):
            return [*base, f"--{action}", *(spec.name for spec in specs)]
        return [*base, "--install", *(str(spec.source) for spec in specs)]


PROVIDERS = {"dpkg": DpkgProvider()}
