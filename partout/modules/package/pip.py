"""pip: Python packages in a virtualenv or for one interpreter.

Installed distributions of a virtualenv are read from its site-packages `*.dist-info`
directories in-process (no interpreter start-up, the no-op run stays fast); another
interpreter is asked once through importlib.metadata.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from partout.errors import ResourceError
from partout.modules.package.provider import Action, BaseProvider, pinned, run

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
)


def normalize(name: str) -> str:
    """PEP 503: `Foo_Bar.baz` and `foo-bar-baz` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def interpreter(spec: PackageOptions) -> str:
    if spec.python is not None:
        return spec.python
    if spec.virtualenv is not None:
        return str(spec.virtualenv / "bin" / "python")
    return shutil.which("python3") or "python3"


def _site_packages(python: str) -> list[Path] | None:
    """The site-packages of a virtualenv that does not see the system's, else None."""
    environment = Path(python).parent.parent
    configuration = environment / "pyvenv.cfg"
    if not configuration.is_file():
        return None
    if re.search(r"include-system-site-packages\s*=\s*true", configuration.read_text(), re.IGNORECASE):
        return None
    return sorted(environment.glob("lib*/python*/site-packages"))


def read_dist_info(directories: Sequence[Path]) -> dict[str, str]:
    """name -> version from `<name>-<version>.dist-info` (and `.egg-info`) directory names;
    names escape '-' as '_' there, so the first '-' ends the name."""
    installed: dict[str, str] = {}
    for directory in directories:
        # legacy installs leave `<name>-<version>[-pyX.Y].egg-info` instead
        for entry in [*directory.glob("*.egg-info"), *directory.glob("*.dist-info")]:
            name, _, rest = entry.name.rsplit(".", 1)[0].partition("-")
            version = rest.split("-py", 1)[0]
            if version:
                installed[normalize(name)] = version
    return installed


def requirement(spec: PackageOptions) -> str:
    if spec.source is not None:
        return str(spec.source)
    return pinned(spec, "==")


def index_options(spec: PackageOptions) -> list[str]:
    options: list[str] = []
    if spec.index_url is not None:
        options += ["--index-url", spec.index_url]
    for link in spec.find_links:
        options += ["--find-links", link]
    if spec.no_index:
        options.append("--no-index")
    return options


class PipProvider(BaseProvider):
    name = "pip"
    tools = ("python3",)

    def scope(self, spec: PackageOptions) -> str:
        # index options are part of the scope: one pip call carries one set of them
        return f"pip:{interpreter(spec)}:{' '.join(index_options(spec))}"

    def normalize(self, name: str) -> str:
        return normalize(name)

    def missing(self, spec: PackageOptions) -> str | None:
        python = interpreter(spec)
        if Path(python).is_file() or shutil.which(python):
            return None
        return f"the Python interpreter {python} does not exist"

    def installed(self, spec: PackageOptions) -> dict[str, str]:
        python = interpreter(spec)
        directories = _site_packages(python)
        if directories is not None:
            return read_dist_info(directories)
        listing: dict[str, str] = json.loads(run([python, "-c", _LIST_DISTRIBUTIONS]))
        return {normalize(name): version for name, version in listing.items()}

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        output = run([interpreter(spec), "-m", "pip", "list", "--outdated", "--format=json",
                      "--disable-pip-version-check", *index_options(spec)])
        return parse_outdated(output)

    def source_identity(self, spec: PackageOptions) -> tuple[str, str]:
        assert spec.source is not None
        return source_identity(spec.source)

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]:
        first = specs[0]
        base = [interpreter(first), "-m", "pip"]
        if action == "remove":
            return [*base, "uninstall", "--yes", "--disable-pip-version-check",
                    *(spec.name for spec in specs)]
        upgrade = ["--upgrade"] if action == "upgrade" else []
        return [*base, "install", "--disable-pip-version-check", "--no-input", "--quiet", *upgrade,
                *index_options(first), *(requirement(spec) for spec in specs)]


def parse_outdated(output: str) -> dict[str, str]:
    """`pip list --outdated --format=json` -> name -> latest version."""
    try:
        rows = json.loads(output or "[]")
    except json.JSONDecodeError as error:
        raise ResourceError(f"pip list --outdated printed something that is not JSON: {error}") from error
    return {normalize(row["name"]): str(row["latest_version"]) for row in rows}


def source_identity(source: Path) -> tuple[str, str]:
    """Name and version from a wheel (`name-version-tags.whl`) or sdist (`name-version.tar.gz`) file name."""
    file_name = source.name
    if file_name.endswith(".whl"):
        parts = file_name[: -len(".whl")].split("-")
        if len(parts) >= 5:
            return parts[0], parts[1]
    for suffix in (".tar.gz", ".zip"):
        if file_name.endswith(suffix):
            name, _, version = file_name[: -len(suffix)].rpartition("-")
            if name:
                return name, version
    raise ResourceError(f"pip source {source}: not a wheel or sdist file name (name-version-...whl, name-version.tar.gz)")


PROVIDERS = {"pip": PipProvider()}
