"""What the user and group modules share: reading the account files under a root once per
run, validating names, and running the shadow tools (useradd, groupadd, ...) with --root."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from partout.errors import ResourceError
from partout.modules.base import RunContext

# shadow-utils' default rule (Debian relaxes it; portable names stay within this)
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$|^[a-z_][a-z0-9_.-]{0,30}\$$")


def validate_name(kind: str, value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"{kind} name {value!r} is invalid: use lowercase letters, digits, '_', '-' and '.', "
                         f"starting with a letter or '_', at most 32 characters")
    return value


@dataclass(frozen=True)
class UserEntry:
    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class ShadowEntry:
    name: str
    password: str
    expiry: str  # days since 1970-01-01, or "" for never


@dataclass
class Accounts:
    users: dict[str, UserEntry] = field(default_factory=dict)
    groups: dict[str, GroupEntry] = field(default_factory=dict)
    shadow: dict[str, ShadowEntry] = field(default_factory=dict)

    def user_with_uid(self, uid: int) -> UserEntry | None:
        return next((user for user in self.users.values() if user.uid == uid), None)

    def group_with_gid(self, gid: int) -> GroupEntry | None:
        return next((group for group in self.groups.values() if group.gid == gid), None)

    def groups_of(self, name: str) -> set[str]:
        """Supplementary groups: those that list the user as a member."""
        return {group.name for group in self.groups.values() if name in group.members}


def etc(root: Path | None) -> Path:
    return (root or Path("/")) / "etc"


def _lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith(("#", "+", "-"))]


def read_accounts(root: Path | None) -> Accounts:
    accounts = Accounts()
    for parts in _lines(etc(root) / "passwd"):
        if len(parts) >= 7 and parts[2].isdigit() and parts[3].isdigit():
            accounts.users[parts[0]] = UserEntry(parts[0], int(parts[2]), int(parts[3]), parts[4], parts[5], parts[6])
    for parts in _lines(etc(root) / "group"):
        if len(parts) >= 4 and parts[2].isdigit():
            members = tuple(member for member in parts[3].split(",") if member)
            accounts.groups[parts[0]] = GroupEntry(parts[0], int(parts[2]), members)
    for parts in _lines(etc(root) / "shadow"):
        if len(parts) >= 8:
            accounts.shadow[parts[0]] = ShadowEntry(parts[0], parts[1], parts[7])
    return accounts


def _key(root: Path | None) -> str:
    return f"accounts:{root or '/'}"


def cached_accounts(context: RunContext, root: Path | None) -> Accounts:
    """The account files under root, read once per run."""
    accounts: Accounts = context.cached(_key(root), lambda: read_accounts(root))
    return accounts


def forget_accounts(context: RunContext, root: Path | None) -> None:
    context.forget(_key(root))


def root_options(root: Path | None) -> list[str]:
    return ["--root", str(root.resolve())] if root is not None else []


def run_tool(argv: Sequence[str], *, input: str | None = None) -> str:
    """Run a shadow tool; its own message becomes the ResourceError. `input` may hold a
    password hash, so it is never part of a message."""
    try:
        completed = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=120,
                                   env={**os.environ, "LC_ALL": "C"})
    except FileNotFoundError as error:
        raise ResourceError(f"{argv[0]} is not installed on this machine (needed to manage accounts)") from error
    output = "\n".join(part for part in (completed.stdout.strip(), completed.stderr.strip()) if part)
    if completed.returncode != 0:
        raise ResourceError(f"{argv[0]} exited with {completed.returncode}: {output}")
    return output
