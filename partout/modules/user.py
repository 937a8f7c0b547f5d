"""The `user` module: local user accounts through useradd, usermod, userdel and chpasswd.

The account files are read once per run (under `root=`, which maps to the tools' --root,
so tests work on a copy of /etc). The password is a crypt hash held in a SecretStr: it is
passed to `chpasswd -e` on stdin (never on a command line) and shown only as `<secret>`.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from partout.errors import ResourceError
from partout.modules import homedir
from partout.modules.accounts import (
    Accounts, cached_accounts, etc, forget_accounts, read_accounts, root_options, run_tool, validate_name,
)
from partout.modules.accounts_watch import USER_WATCHING, watch_user
from partout.modules.base import Change, Module, ModuleOptions, RunContext

SECRET = "<secret>"
_EPOCH = datetime.date(1970, 1, 1)


class UserOptions(ModuleOptions):
    """Manage a local user account.

    Example: `p2.user("deploy", uid=1500, shell="/bin/bash", groups=["www-data"], password=HASH)`.
    """

    name: str = Field(description="User name (the title): lowercase letters, digits, '_', '-', '.'.")
    ensure: Literal["present", "absent"] = Field("present", description="present or absent.")
    uid: int | None = Field(None, ge=0, description="User id; refused when another user has it.")
    gid: int | str | None = Field(None, description="Primary group, by gid or name (default: the tools').")
    system: bool = Field(False, description="Create a system account (useradd --system) when it is created.")
    home: Path | None = Field(None, description="Home directory.")
    manage_home: bool = Field(True, description="Create the home on creation, move it when home changes, "
                              "remove it with the user.")
    shell: str | None = Field(None, description="Login shell, e.g. /bin/bash.")
    comment: str | None = Field(None, description="GECOS field, e.g. the full name.")
    groups: tuple[str, ...] | None = Field(None, description="Supplementary groups; unset leaves them as they are.")
    append: bool = Field(False, description="With groups: add to these groups and keep the others.")
    password: SecretStr | None = Field(None, description="Password as a crypt hash (e.g. $6$...); never logged, "
                                       "shown as <secret>.")
    expiry: str | None = Field(None, pattern=r"^(\d{4}-\d{2}-\d{2}|never)$",
                               description="Account expiry date YYYY-MM-DD, or 'never'.")
    root: Path | None = Field(None, description="Manage the accounts of the system under this directory "
                              "(useradd --root); its etc/ needs passwd, group, shadow, gshadow, login.defs.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_name("user", value)

    @field_validator("groups")
    @classmethod
    def _valid_groups(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for group in value or ():
            validate_name("group", group)
        return value


def _expiry_days(expiry: str) -> str:
    if expiry == "never":
        return ""
    return str((datetime.date.fromisoformat(expiry) - _EPOCH).days)


def _gid(spec: UserOptions, accounts: Accounts) -> int | str | None:
    """The wanted primary gid; a group name not (yet) in the group file stays a name, so a
    group declared just before (or not created under --noop) does not fail the check:
    useradd/usermod resolve it, and say so if it really does not exist."""
    if spec.gid is None or isinstance(spec.gid, int):
        return spec.gid
    group = accounts.groups.get(spec.gid)
    return group.gid if group is not None else spec.gid


def _check_uid(spec: UserOptions, accounts: Accounts) -> None:
    if spec.uid is None:
        return
    holder = accounts.user_with_uid(spec.uid)
    if holder is not None and holder.name != spec.name:
        raise ResourceError(f"user {spec.name}: uid {spec.uid} is already used by {holder.name!r} in "
                            f"{etc(spec.root) / 'passwd'}; choose another uid")


def differences(spec: UserOptions, accounts: Accounts) -> list[tuple[str, str]]:
    """(field, description) for each setting that differs from an existing user."""
    user = accounts.users[spec.name]
    shadow = accounts.shadow.get(spec.name)
    found: list[tuple[str, str]] = []
    if spec.uid is not None and spec.uid != user.uid:
        found.append(("uid", f"uid {user.uid} -> {spec.uid}"))
    gid = _gid(spec, accounts)
    if gid is not None and gid != user.gid:
        found.append(("gid", f"gid {user.gid} -> {gid}"))
    if spec.home is not None and str(spec.home) != user.home:
        found.append(("home", f"home {user.home} -> {spec.home}"))
    if spec.shell is not None and spec.shell != user.shell:
        found.append(("shell", f"shell {user.shell} -> {spec.shell}"))
    if spec.comment is not None and spec.comment != user.comment:
        found.append(("comment", f"comment {user.comment!r} -> {spec.comment!r}"))
    if spec.groups is not None:
        have, want = accounts.groups_of(spec.name), set(spec.groups)
        if spec.append and not want <= have:
            found.append(("groups", f"groups +{','.join(sorted(want - have))}"))
        elif not spec.append and want != have:
            found.append(("groups", f"groups {','.join(sorted(have)) or '-'} -> {','.join(sorted(want)) or '-'}"))
    if spec.password is not None and (shadow is None or shadow.password != spec.password.get_secret_value()):
        found.append(("password", f"password {SECRET}"))
    if spec.expiry is not None and (shadow is None or shadow.expiry != _expiry_days(spec.expiry)):
        found.append(("expiry", f"expiry {spec.expiry}"))
    home = str(spec.home) if spec.home is not None else user.home
    # usermod --move-home moves an existing old home; a missing one must be made afresh
    moved = home != user.home and not homedir.is_missing(spec.root, user.home)
    if spec.manage_home and not moved and homedir.is_missing(spec.root, home):
        found.append(("create_home", f"create home {home}"))
    return found


def check(spec: UserOptions, context: RunContext) -> Change | None:
    accounts = cached_accounts(context, spec.root)
    exists = spec.name in accounts.users
    if spec.ensure == "absent":
        return Change(summary=f"remove user {spec.name}", data={"action": "remove"}) if exists else None
    _check_uid(spec, accounts)
    if spec.home is not None:
        homedir.refuse_non_directory(spec.name, spec.root, spec.home)
    if not exists:
        details = [f"uid {spec.uid}" if spec.uid is not None else "", f"shell {spec.shell}" if spec.shell else "",
                   f"password {SECRET}" if spec.password is not None else ""]
        described = ", ".join(detail for detail in details if detail)
        return Change(summary=f"create user {spec.name}" + (f" ({described})" if described else ""),
                      data={"action": "create"})
    found = differences(spec, accounts)
    if not found:
        return None
    return Change(summary=", ".join(text for _, text in found),
                  data={"action": "modify", "fields": [name for name, _ in found]})


def _settings(spec: UserOptions, accounts: Accounts, fields: set[str]) -> list[str]:
    """useradd/usermod options for the given fields (shared spelling of both tools)."""
    options: list[str] = []
    if "uid" in fields and spec.uid is not None:
        options += ["--uid", str(spec.uid)]
    if "gid" in fields and spec.gid is not None:
        options += ["--gid", str(spec.gid)]
    if "home" in fields and spec.home is not None:
        options += ["--home-dir" if "create" in fields else "--home", str(spec.home)]
    if "shell" in fields and spec.shell is not None:
        options += ["--shell", spec.shell]
    if "comment" in fields and spec.comment is not None:
        options += ["--comment", spec.comment]
    if "groups" in fields and spec.groups is not None:
        options += ["--groups", ",".join(spec.groups)]
    if "expiry" in fields and spec.expiry is not None:
        options += ["--expiredate", "" if spec.expiry == "never" else spec.expiry]
    return options


def apply(spec: UserOptions, change: Change, context: RunContext) -> str | None:
    accounts = cached_accounts(context, spec.root)
    root = root_options(spec.root)
    action = change.data.get("action")
    try:
        if action == "remove":
            return run_tool(["userdel", *root, *(["--remove"] if spec.manage_home else []), spec.name]) or None
        if action == "create":
            fields = {"uid", "gid", "home", "shell", "comment", "groups", "create"}
            if spec.expiry not in (None, "never"):
                fields.add("expiry")
            options = _settings(spec, accounts, fields)
            options += ["--create-home"] if spec.manage_home else ["--no-create-home"]
            options += ["--system"] if spec.system else []
            output = run_tool(["useradd", *root, *options, spec.name])
        else:
            fields = set(change.data.get("fields", []))
            options = _settings(spec, accounts, fields)
            if "home" in fields and spec.manage_home:
                options.append("--move-home")
            if "groups" in fields and spec.append:
                options.append("--append")
            output = run_tool(["usermod", *root, *options, spec.name]) if options else ""
            if "create_home" in fields:
                user = read_accounts(spec.root).users[spec.name]
                homedir.create(spec.root, user.home, user.uid, user.gid)
        if spec.password is not None and (action == "create" or "password" in change.data.get("fields", [])):
            run_tool(["chpasswd", "--encrypted", *root], input=f"{spec.name}:{spec.password.get_secret_value()}\n")
        return output or None
    finally:
        forget_accounts(context, spec.root)


MODULE: Module[UserOptions] = Module(
    name="user",
    options=UserOptions,
    check=check,
    apply=apply,
    watch=watch_user,
    watching=USER_WATCHING,
    concurrent=False,
    summary="Manage local user accounts (useradd, usermod, userdel).",
)
