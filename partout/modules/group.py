"""The `group` module: local groups through groupadd, groupmod and groupdel (`root=` maps
to their --root), with the group file read once per run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.accounts import cached_accounts, etc, forget_accounts, root_options, run_tool, validate_name
from partout.modules.accounts_watch import GROUP_WATCHING, watch_group
from partout.modules.base import Change, Module, ModuleOptions, RunContext


class GroupOptions(ModuleOptions):
    """Manage a local group.

    Example: `p2.group("deploy", gid=1500)`.
    """

    name: str = Field(description="Group name (the title): lowercase letters, digits, '_', '-', '.'.")
    ensure: Literal["present", "absent"] = Field("present", description="present or absent.")
    gid: int | None = Field(None, ge=0, description="Group id; refused when another group has it.")
    system: bool = Field(False, description="Create a system group (groupadd --system) when it is created.")
    root: Path | None = Field(None, description="Manage the groups of the system under this directory "
                              "(groupadd --root); its etc/ needs group, gshadow, login.defs.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_name("group", value)


def check(spec: GroupOptions, context: RunContext) -> Change | None:
    accounts = cached_accounts(context, spec.root)
    group = accounts.groups.get(spec.name)
    if spec.ensure == "absent":
        return Change(summary=f"remove group {spec.name}", data={"action": "remove"}) if group else None
    if spec.gid is not None:
        holder = accounts.group_with_gid(spec.gid)
        if holder is not None and holder.name != spec.name:
            raise ResourceError(f"group {spec.name}: gid {spec.gid} is already used by {holder.name!r} in "
                                f"{etc(spec.root) / 'group'}; choose another gid")
    if group is None:
        described = f" (gid {spec.gid})" if spec.gid is not None else ""
        return Change(summary=f"create group {spec.name}{described}", data={"action": "create"})
    if spec.gid is not None and spec.gid != group.gid:
        return Change(summary=f"gid {group.gid} -> {spec.gid}", data={"action": "modify"})
    return None


def apply(spec: GroupOptions, change: Change, context: RunContext) -> str | None:
    root = root_options(spec.root)
    gid = ["--gid", str(spec.gid)] if spec.gid is not None else []
    try:
        match change.data.get("action"):
            case "remove":
                return run_tool(["groupdel", *root, spec.name]) or None
            case "create":
                return run_tool(["groupadd", *root, *gid, *(["--system"] if spec.system else []), spec.name]) or None
            case _:
                return run_tool(["groupmod", *root, *gid, spec.name]) or None
    finally:
        forget_accounts(context, spec.root)


MODULE: Module[GroupOptions] = Module(
    name="group",
    options=GroupOptions,
    check=check,
    apply=apply,
    watch=watch_group,
    watching=GROUP_WATCHING,
    concurrent=False,
    summary="Manage local groups (groupadd, groupmod, groupdel).",
)
