"""How package resources are watched: the package manager's database, settled.

dpkg rewrites `<admindir>/status` several times per transaction, rpm its rpmdb, apk
`lib/apk/db/installed`; pip adds and removes `*.dist-info` directories in a
virtualenv's site-packages, npm package folders in node_modules. The watcher hears
those; the engine waits until the database has been quiet for `SETTLE` seconds (the
manager's transaction is over) and then re-checks every watched package of that
database in one batch, repairing them with one manager call.

`watch(spec)` has no facts, so the database is found from `provider=` or `source=`
when set, else from which database exists under `root=`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from partout.modules.base import RunContext, Watch, Watching

if TYPE_CHECKING:
    from partout.modules.package import PackageOptions

SETTLE = 0.3
# An interpreter that is not a virtualenv's: its site-packages are only known by asking it.
UNKNOWN_SITE_POLL = 30.0

WATCHING = Watching(
    "events or polling",
    f"inotify on the manager's database (dpkg status, rpmdb, apk installed, a virtualenv's site-packages, "
    f"npm's node_modules), re-checked in one batch once quiet for {SETTLE} s; pip for a system "
    f"interpreter: polled every {UNKNOWN_SITE_POLL:.0f} s",
)


def _dpkg(spec: PackageOptions) -> tuple[Path, ...]:
    from partout.modules.package.dpkg import admindir

    return (admindir(spec) / "status",)


def _rpm(spec: PackageOptions) -> tuple[Path, ...]:
    directory = (spec.root or Path("/")) / "var" / "lib" / "rpm"
    return (directory / "rpmdb.sqlite", directory / "Packages")


def _apk(spec: PackageOptions) -> tuple[Path, ...]:
    from partout.modules.package.apk import database

    return (database(spec),)


_DATABASES = {"apt": _dpkg, "dpkg": _dpkg, "rpm": _rpm, "dnf": _rpm, "yum": _rpm, "zypper": _rpm, "apk": _apk}


def _provider(spec: PackageOptions) -> str | None:
    if spec.provider is not None:
        return spec.provider
    if spec.source is not None and spec.source.suffix in (".deb", ".rpm"):
        return spec.source.suffix[1:]
    for name in ("dpkg", "rpm", "apk"):
        if any(path.exists() for path in _DATABASES[name](spec)):
            return name
    return None


def _pip(spec: PackageOptions) -> Watch:
    from partout.modules.package.pip import _site_packages, interpreter

    directories = _site_packages(interpreter(spec))
    if not directories:
        return Watch(interval=UNKNOWN_SITE_POLL, settle=SETTLE)
    return Watch(directories=tuple(directories), settle=SETTLE)


def _npm(spec: PackageOptions) -> Watch:
    from partout.modules.package.npm import modules_directory

    directory = modules_directory(spec)
    # a scoped package (@scope/name) lives one folder down
    scopes = tuple(sorted(directory.glob("@*"))) if directory.is_dir() else ()
    return Watch(directories=(directory, *scopes), settle=SETTLE)


def watch(spec: PackageOptions, context: RunContext) -> Watch | None:
    provider = _provider(spec)
    if provider == "pip":
        return _pip(spec)
    if provider == "npm":
        return _npm(spec)
    if provider is None:
        return None
    return Watch(paths=_DATABASES[provider](spec), settle=SETTLE)
