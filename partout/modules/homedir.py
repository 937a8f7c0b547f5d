"""Home directories of the user module that useradd does not make: the home of a user that
exists but whose home is missing (Salt's and Ansible's user states create it too), built
the way `useradd --create-home` would: the skeleton copied in, owned by the user, with
login.defs' HOME_MODE (or 0777 minus its UMASK)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from partout.errors import ResourceError
from partout.modules.accounts import etc

# Conventional "no home" paths of system accounts: never created.
NO_HOME = frozenset({"/nonexistent", "/dev/null", "/"})


def home_path(root: Path | None, home: str | Path) -> Path:
    """Where a home (an absolute path inside the system) is on this machine."""
    return (root or Path("/")) / str(home).lstrip("/")


def refuse_non_directory(user: str, root: Path | None, home: Path) -> None:
    """A home= that exists as anything but a directory would leave the user with a file as home."""
    path = home_path(root, home)
    if os.path.lexists(path) and not path.is_dir():
        what = "a symlink to a non-directory" if path.is_symlink() else "a regular file" if path.is_file() else "not a directory"
        raise ResourceError(f"user {user}: home {home} exists and is {what} ({path}); move it away or choose "
                            f"another home=; nothing changed")


def is_missing(root: Path | None, home: str) -> bool:
    return home not in NO_HOME and not os.path.lexists(home_path(root, home))


def _login_defs(root: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = (etc(root) / "login.defs").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            values[parts[0]] = parts[1]
    return values


def _home_mode(root: Path | None) -> int:
    settings = _login_defs(root)
    try:
        if "HOME_MODE" in settings:
            return int(settings["HOME_MODE"], 8) & 0o7777
        return 0o777 & ~int(settings.get("UMASK", "022"), 8)
    except ValueError:
        return 0o755


def _skeleton(root: Path | None) -> Path:
    skel = "/etc/skel"
    try:
        for line in (etc(root) / "default" / "useradd").read_text(encoding="utf-8").splitlines():
            if line.startswith("SKEL="):
                skel = line.partition("=")[2].strip() or skel
    except OSError:
        pass
    return home_path(root, skel)


def create(root: Path | None, home: str, uid: int, gid: int) -> None:
    """Make the home from the skeleton; symlinks in the skeleton are copied as symlinks."""
    path = home_path(root, home)
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.mkdir(path, 0o700)  # private until it belongs to the user
        os.chown(path, uid, gid)
        skeleton = _skeleton(root)
        if skeleton.is_dir():
            for directory, subdirectories, files in os.walk(skeleton):
                relative = Path(directory).relative_to(skeleton)
                for name in subdirectories + files:
                    _copy(Path(directory) / name, path / relative / name, uid, gid)
        os.chmod(path, _home_mode(root))
    except OSError as error:
        raise ResourceError(f"cannot create home {home} ({path}): {error.strerror or error}") from error


def _copy(source: Path, target: Path, uid: int, gid: int) -> None:
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        os.mkdir(target, 0o700)
        shutil.copymode(source, target)
    else:
        shutil.copy2(source, target, follow_symlinks=False)
    os.lchown(target, uid, gid)
