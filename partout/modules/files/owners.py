"""User and group names to ids and back, cached: a no-op check of 1,000 files owned by
the same user must not look it up 1,000 times."""

from __future__ import annotations

import functools
import grp
import pwd

from partout.errors import ResourceError


@functools.lru_cache(maxsize=256)
def uid_of(owner: str | int) -> int:
    if isinstance(owner, int):
        return owner
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise ResourceError(f"owner {owner!r} does not exist on this machine; create the user first") from None


@functools.lru_cache(maxsize=256)
def gid_of(group: str | int) -> int:
    if isinstance(group, int):
        return group
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ResourceError(f"group {group!r} does not exist on this machine; create the group first") from None


@functools.lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@functools.lru_cache(maxsize=256)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def forget() -> None:
    """Drop cached lookups after users or groups changed (a user resource ran)."""
    for function in (uid_of, gid_of, user_name, group_name):
        function.cache_clear()
