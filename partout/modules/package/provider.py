"""What every package provider offers, the one way they run tools, and how one is chosen.

A provider answers five questions for a spec: which installed-state set it reads (`scope`,
also the batching group), what is installed (`installed`), what could be upgraded
(`upgrades`), which name/version a local package file holds (`source_identity`), and the
command line that installs, upgrades or removes several packages at once (`command`).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from partout.errors import ResourceError

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

# "purge" only for providers whose `purges` is true (apt, dpkg): removal with configuration.
Action = Literal["install", "upgrade", "remove", "purge"]

# provider name -> python module defining PROVIDER; imported only when a policy uses it
_PROVIDERS: dict[str, str] = {
    "apt": "partout.modules.package.apt",
    "dpkg": "partout.modules.package.dpkg",
    "dnf": "partout.modules.package.dnf",
    "yum": "partout.modules.package.dnf",
    "rpm": "partout.modules.package.rpm",
    "zypper": "partout.modules.package.zypper",
    "apk": "partout.modules.package.apk",
    "pip": "partout.modules.package.pip",
    "npm": "partout.modules.package.npm",
}

# facts.os.family -> provider; aliases because fact sources spell families differently
_BY_FAMILY: dict[str, str] = {
    "debian": "apt", "ubuntu": "apt",
    "redhat": "dnf", "rhel": "dnf", "fedora": "dnf", "centos": "dnf", "rocky": "dnf", "almalinux": "dnf",
    "suse": "zypper", "opensuse": "zypper", "sles": "zypper",
    "alpine": "apk",
}


class ToolError(ResourceError):
    """A package manager exited with a failure; carries its combined output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output.strip()
        super().__init__(f"{argv[0]} exited with {returncode}: {self.output}")


class Provider(Protocol):
    name: str
    tools: tuple[str, ...]
    purges: bool

    def scope(self, spec: PackageOptions) -> str: ...

    def normalize(self, name: str) -> str: ...

    def installed(self, spec: PackageOptions) -> dict[str, str]: ...

    def upgrades(self, spec: PackageOptions) -> dict[str, str]: ...

    def source_identity(self, spec: PackageOptions) -> tuple[str, str]: ...

    def command(self, action: Action, specs: Sequence[PackageOptions]) -> list[str]: ...

    def environment(self) -> Mapping[str, str]: ...

    def missing(self, spec: PackageOptions) -> str | None: ...

    def leftovers(self, spec: PackageOptions) -> set[str]:
        """Packages removed but whose configuration files remain (what purged still removes)."""
        ...


class BaseProvider:
    """Defaults shared by providers: names as given, no local files, plain environment."""

    name = "base"
    tools: tuple[str, ...] = ()
    purges = False  # removal already takes everything; purged is absent here

    def leftovers(self, spec: PackageOptions) -> set[str]:
        return set()

    def normalize(self, name: str) -> str:
        return name

    def source_identity(self, spec: PackageOptions) -> tuple[str, str]:
        raise ResourceError(f"package {spec.name}: provider {self.name} does not install local files (source=)")

    def environment(self) -> Mapping[str, str]:
        return {}

    def missing(self, spec: PackageOptions) -> str | None:
        """Why this provider cannot work here, or None when its tool is on PATH."""
        if any(shutil.which(tool) for tool in self.tools):
            return None
        return f"none of {', '.join(self.tools)} is on PATH"

    def executable(self) -> str:
        """The first of `tools` found on PATH (checked by `missing` before any use)."""
        for tool in self.tools:
            found = shutil.which(tool)
            if found is not None:
                return found
        return self.tools[0]


class LocalFileProvider(BaseProvider):
    """Defaults shared by the providers that install local package files (`source=`)."""

    suffix = ""  # what `source=` should end with, named in the error when it is unset

    def upgrades(self, spec: PackageOptions) -> dict[str, str]:
        return {}  # a local file is its own latest version

    def source_of(self, spec: PackageOptions) -> Path:
        if spec.source is None:
            raise ResourceError(f"package {spec.name}: provider {self.name} installs local files; "
                                f"set source= to a {self.suffix}")
        return spec.source


def run(argv: Sequence[str], *, environment: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (0,), timeout: float = 3600) -> str:
    """Run a tool, return its stdout; raise ToolError with its output when it fails."""
    env = {**os.environ, "LC_ALL": "C", **(environment or {})}
    try:
        completed = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout,
                                   stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise ResourceError(f"{argv[0]} is not installed on this machine") from exc
    except subprocess.TimeoutExpired as exc:
        raise ResourceError(f"{argv[0]} did not finish within {timeout:.0f} s") from exc
    if completed.returncode not in ok:
        output = "\n".join(part for part in (completed.stderr.strip(), completed.stdout.strip()) if part)
        raise ToolError(argv, completed.returncode, output)
    return completed.stdout


def wanted_version(spec: PackageOptions) -> str | None:
    """The version `ensure` names, or None for present, latest and absent."""
    return spec.ensure if spec.ensure not in ("present", "latest", "absent", "purged") else None


def pinned(spec: PackageOptions, separator: str = "=") -> str:
    """The name to hand the manager: `name<separator>version` when ensure names a version."""
    version = wanted_version(spec)
    return f"{spec.name}{separator}{version}" if version is not None else spec.name


def version_matches(have: str, want: str) -> bool:
    """`want` is the exact installed version, or it without epoch and release/revision
    (`1.2.3` matches `1:1.2.3-4`), as operators write versions by hand."""
    if have == want:
        return True
    bare = have.split(":", 1)[1] if ":" in have and ":" not in want else have
    return bare == want or bare.startswith(want + "-")


def family_of(facts: Any) -> str | None:
    """facts.os.family, whether facts is an object or nested dicts; None when absent."""
    os_facts = facts.get("os") if isinstance(facts, dict) else getattr(facts, "os", None)
    family = os_facts.get("family") if isinstance(os_facts, dict) else getattr(os_facts, "family", None)
    return str(family).lower() if family else None


def provider_name(spec: PackageOptions, facts: Any) -> tuple[str, str]:
    """The provider for a spec and why: (name, reason) — the reason goes into errors."""
    if spec.provider is not None:
        return spec.provider, "provider= option"
    if spec.source is not None:
        suffix = str(spec.source).rsplit(".", 1)[-1].lower()
        if suffix in ("deb", "rpm"):
            return ("dpkg" if suffix == "deb" else "rpm"), f"source={spec.source}"
    family = family_of(facts)
    name = _BY_FAMILY.get(family or "")
    if name is None:
        raise ResourceError(f"package {spec.name}: cannot choose a provider from facts os.family={family!r}; "
                            f"set provider= to one of {', '.join(sorted(_PROVIDERS))}")
    if name == "dnf" and shutil.which("dnf") is None and shutil.which("yum") is not None:
        name = "yum"
    return name, f"facts os.family={family!r}"


def load(name: str) -> Provider:
    provider: Provider = importlib.import_module(_PROVIDERS[name]).PROVIDERS[name]
    return provider


def choose(spec: PackageOptions, facts: Any) -> Provider:
    """The provider object for a spec, checked to be usable on this machine."""
    name, reason = provider_name(spec, facts)
    provider = load(name)
    why = provider.missing(spec)
    if why is not None:
        raise ResourceError(f"package {spec.name}: provider {name} (chosen by {reason}) is not available on "
                            f"this machine: {why}; install it or set provider=")
    return provider
