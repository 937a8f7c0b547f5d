"""The `package` module: install, upgrade or remove packages through a provider chosen by
facts (apt, dnf/yum, zypper, apk) or named (pip, npm, dpkg/rpm for local files).

Installed packages are read once per run and provider scope (`context.cached`), and
`apply_batch` makes one package-manager call for all ready packages of one provider and
scope, falling back to one call per package when the batch fails so that the error lands
on the package that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.base import Change, Module, ModuleOptions, Outcome, RunContext
from partout.modules.package.ensure import PURGED, normalise, removes
from partout.modules.package.watch import WATCHING, watch
from partout.modules.package.provider import (
    Action, Provider, ToolError, choose, run, version_matches, wanted_version,
)

log = logging.getLogger(__name__)

ProviderName = Literal["apt", "dpkg", "dnf", "yum", "rpm", "zypper", "apk", "pip", "npm"]


class PackageOptions(ModuleOptions):
    """Install, upgrade or remove one package with the system's or a language's package manager.

    Example: `p2.package("nginx")`, `p2.package("requests", provider="pip", virtualenv="/opt/app")`.
    """

    name: str = Field(min_length=1, description="Package name (the title). A list of titles makes one resource each.")
    ensure: str = Field("present", description="present (or installed), latest, absent, purged (removed with "
                        "its configuration: apt-get purge, dpkg --purge; other managers keep none, so there "
                        "it is absent), or a version to hold (exact, or without epoch and release: '1.2.3' "
                        "matches '1:1.2.3-4'). Any other word is refused.")
    provider: ProviderName | None = Field(None, description="Package manager; by default chosen from facts "
                                          "os.family (debian: apt, redhat: dnf or yum, suse: zypper, "
                                          "alpine: apk) or from source='s suffix (.deb: dpkg, .rpm: rpm).")
    source: Path | None = Field(None, description="A local package file to install: .deb (dpkg), .rpm (rpm), "
                                "a wheel or sdist (pip), a tarball or directory (npm).")
    root: Path | None = Field(None, description="apt/dpkg/dnf/rpm/zypper/apk: operate on the system "
                              "installed under this directory (dpkg --root, --installroot, --root).")
    admindir: Path | None = Field(None, description="apt/dpkg: the dpkg database directory "
                                  "(dpkg --admindir); default <root>/var/lib/dpkg.")
    virtualenv: Path | None = Field(None, description="pip: the virtual environment to install into.")
    python: str | None = Field(None, description="pip: the Python interpreter whose pip to use "
                               "(default: the virtualenv's, else python3 on PATH).")
    index_url: str | None = Field(None, description="pip: --index-url, the package index to use.")
    find_links: tuple[str, ...] = Field((), description="pip: --find-links, directories or URLs of archives.")
    no_index: bool = Field(False, description="pip: --no-index, ignore the package index (local files only).")
    prefix: Path | None = Field(None, description="npm: --prefix, where packages go "
                                "(global: <prefix>/lib/node_modules, else <prefix>/node_modules).")
    global_install: bool = Field(True, description="npm: install globally (npm -g); false installs into "
                                 "<prefix>/node_modules as a project dependency.")

    @field_validator("ensure")
    @classmethod
    def _ensure_is_a_keyword_or_version(cls, value: str) -> str:
        return normalise(value)


def _installed_key(provider: Provider, spec: PackageOptions) -> str:
    return f"package:{provider.scope(spec)}:installed"


def _wanted(provider: Provider, spec: PackageOptions) -> tuple[str, str | None]:
    """The normalized name to look up and the version wanted (None: any)."""
    if spec.source is not None:
        name, version = provider.source_identity(spec)
        if provider.normalize(name) != provider.normalize(spec.name):
            raise ResourceError(f"package {spec.name}: source {spec.source} holds package {name!r}, not "
                                f"{spec.name!r}; make the title the package's name")
        return provider.normalize(name), version
    return provider.normalize(spec.name), wanted_version(spec)


def check(spec: PackageOptions, context: RunContext) -> Change | None:
    """Compare the installed version with `ensure`, reading installed packages once per run."""
    provider = choose(spec, context.facts)
    installed: dict[str, str] = context.cached(_installed_key(provider, spec), lambda: provider.installed(spec))
    if spec.source is not None and not removes(spec.ensure) and not spec.source.exists():
        if context.noop:  # an earlier resource (a download) would have made it
            return Change(summary=f"install {spec.name} from {spec.source} (not there yet)",
                          data={"provider": provider.name, "action": "install"})
        raise ResourceError(f"package {spec.name}: source {spec.source} does not exist")
    name, version = _wanted(provider, spec)
    have = installed.get(name)
    data = {"provider": provider.name}
    if removes(spec.ensure):
        return _removal(provider, spec, name, have, data)
    if have is None:
        wanted = f" {version}" if version else ""
        return Change(summary=f"install {spec.name}{wanted}", data={**data, "action": "install"})
    if version is not None and not version_matches(have, version):
        return Change(summary=f"install {spec.name} {version} (have {have})", data={**data, "action": "install"})
    if spec.ensure == "latest":
        upgrades: dict[str, str] = context.cached(f"package:{provider.scope(spec)}:upgrades",
                                                  lambda: provider.upgrades(spec))
        newer = upgrades.get(name)
        if newer is not None and newer != have:
            return Change(summary=f"upgrade {spec.name} {have} -> {newer}", data={**data, "action": "upgrade"})
    return None


def _removal(provider: Provider, spec: PackageOptions, name: str, have: str | None,
             data: dict[str, str]) -> Change | None:
    """absent removes the package; purged also its configuration, where the manager keeps any."""
    if spec.ensure != PURGED:
        return None if have is None else Change(summary=f"remove {spec.name} {have}", data={**data, "action": "remove"})
    if not provider.purges:
        if have is None:
            return None
        return Change(summary=f"remove {spec.name} {have} (purged: {provider.name} keeps no configuration, "
                      f"the same as absent)", data={**data, "action": "remove"})
    if have is not None:
        return Change(summary=f"purge {spec.name} {have}", data={**data, "action": "purge"})
    if name in provider.leftovers(spec):
        return Change(summary=f"purge {spec.name} (its configuration files remain)", data={**data, "action": "purge"})
    return None


def _explain(provider: Provider, spec: PackageOptions, error: ResourceError) -> str:
    """The manager's own message, prefixed with what was asked, so a missing version reads clearly."""
    detail = error.output if isinstance(error, ToolError) else str(error)
    version = wanted_version(spec)
    if removes(spec.ensure):
        return f"{provider.name} could not remove {spec.name}: {detail}"
    if version is not None and spec.source is None:
        return f"{provider.name} could not install {spec.name} version {version} (does that version exist?): {detail}"
    return f"{provider.name} could not install {spec.name}: {detail}"


def _execute(provider: Provider, action: Action, specs: Sequence[PackageOptions]) -> str:
    argv = provider.command(action, specs)
    log.info("package manager call", extra={"provider": provider.name, "action": action, "count": len(specs)})
    return run(argv, environment=provider.environment()).strip()


def apply(spec: PackageOptions, change: Change, context: RunContext) -> str | None:
    outcome = apply_batch([(spec, change)], context)[0]
    if outcome.error is not None:
        raise ResourceError(outcome.error)
    return outcome.output


def _action_of(change: Change) -> Action:
    action = change.data.get("action", "install")
    return action if action in ("remove", "purge", "upgrade") else "install"


def _apply_group(provider: Provider, action: Action, specs: Sequence[PackageOptions]) -> list[Outcome]:
    """One call for the group; if it fails, one call per package so each error is its own."""
    try:
        output = _execute(provider, action, specs) or None
        return [Outcome(output=output) for _ in specs]
    except ResourceError as error:
        if len(specs) == 1:
            return [Outcome(error=_explain(provider, specs[0], error))]
    log.info("batch failed, retrying one by one", extra={"provider": provider.name, "count": len(specs)})
    outcomes: list[Outcome] = []
    for spec in specs:
        try:
            outcomes.append(Outcome(output=_execute(provider, action, [spec]) or None))
        except ResourceError as single_error:
            outcomes.append(Outcome(error=_explain(provider, spec, single_error)))
    return outcomes


def apply_batch(items: Sequence[tuple[PackageOptions, Change]], context: RunContext) -> list[Outcome]:
    """One manager call per (provider, scope, action) group; per-package calls when it fails."""
    outcomes: list[Outcome] = [Outcome(error="not applied")] * len(items)
    groups: dict[tuple[str, str, Action], list[int]] = {}
    providers: dict[str, Provider] = {}
    for index, (spec, change) in enumerate(items):
        try:
            provider = choose(spec, context.facts)
        except ResourceError as error:
            outcomes[index] = Outcome(error=str(error))
            continue
        providers[provider.name] = provider
        groups.setdefault((provider.name, provider.scope(spec), _action_of(change)), []).append(index)
    for (name, scope, action), indexes in groups.items():
        try:
            results = _apply_group(providers[name], action, [items[index][0] for index in indexes])
        finally:
            context.forget(f"package:{scope}:installed")
            context.forget(f"package:{scope}:upgrades")
        for index, outcome in zip(indexes, results):
            outcomes[index] = outcome
    return outcomes


def prepare(specs: Sequence[PackageOptions], context: RunContext) -> None:
    """Read each provider scope's installed packages once, before the checks."""
    for spec in specs:
        try:
            provider = choose(spec, context.facts)
        except ResourceError:
            continue  # check reports it on the resource itself
        try:
            context.cached(_installed_key(provider, spec), lambda: provider.installed(spec))
        except ResourceError:
            continue


def installed_packages(facts: object, **options: object) -> dict[str, str]:
    """name -> version of what the provider chosen for these facts (or `provider=` in
    options) reports installed; for the facts gatherer: `installed_packages(facts)` on a
    Debian host reads the dpkg database without a subprocess."""
    spec = PackageOptions.model_validate({"name": "-", **options})
    provider = choose(spec, facts)
    # dpkg lists multi-arch packages twice (name and name:arch); facts keep the plain name
    return {name: version for name, version in provider.installed(spec).items()
            if not (provider.name in ("apt", "dpkg") and ":" in name)}


MODULE: Module[PackageOptions] = Module(
    name="package",
    options=PackageOptions,
    check=check,
    apply=apply,
    watch=watch,
    watching=WATCHING,
    prepare=prepare,
    apply_batch=apply_batch,
    concurrent=False,
    summary="Install, upgrade or remove packages (apt, dnf/yum, zypper, apk, pip, npm, local .deb/.rpm).",
)
