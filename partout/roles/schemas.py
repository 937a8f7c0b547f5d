"""The options of the built-in roles, as pydantic models: each role file validates its call
with `validate_role(NAME, options)`, and `partout doc NAME` renders the same model, so what
the documentation says is what the role checks.

Types here are what a policy may pass; the module a role wraps checks values further
(a mode's digits, a URL's scheme), so its messages stay the ones its own directive gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout.modules.validation import describe_validation

Paths = str | Path | list[str | Path]


class RoleOptions(BaseModel):
    """Base of a role's options: unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # What the role call's title is, and the module whose resources the role declares.
    title_field: ClassVar[str] = "name"
    module: ClassVar[str] = ""


class IniFileOptions(RoleOptions):
    """Set or remove keys in sections of an INI file, keeping comments, order and the rest.

    `ini_file(path, section=, key=, value=)` or `ini_file(path, values={section: {key: value}})`.
    Example: `p2.ini_file("/etc/php/8.2/fpm/php.ini", section="PHP", key="memory_limit", value="256M")`.
    """

    title_field = "path"
    module = "ini"

    section: str = Field("", description="The section; '' is the part before the first header.")
    key: str | None = Field(None, description="The key to set (or remove with ensure='absent').")
    value: Any = Field(None, description="The key's value (needed with key= unless ensure='absent'); "
                       "booleans are written true/false.")
    values: dict[str, dict[str, Any] | None] | None = Field(
        None, description="Many keys at once, {section: {key: value}}; instead of section/key/value.")
    ensure: Literal["present", "absent"] = Field(
        "present", description="absent removes the keys, or with section= and no key= the whole section.")
    separator: str | None = Field(None, description="Between key and value when a line is written; default ' = '.")
    create: bool | None = Field(None, description="Create the file when it is missing (default true).")
    mode: str | None = Field(None, description="Octal mode of a created file, e.g. '0644'.")
    name: str | None = Field(None, description="The resource title; default made from path, sections and keys.")


class AddFactOptions(RoleOptions):
    """A custom fact for later runs (<facts_d>/<name>.json) and for the rest of this compile.

    `add_fact(name, value=)` or `add_fact(name, file="rack.yaml")`; exactly one of the two.
    """

    module = "fact"

    value: Any = Field(None, description="The fact's value (anything JSON can hold).")
    file: str | Path | None = Field(None, description="A JSON or YAML file, relative to the calling policy, "
                                    "whose content is the value; read at compile time.")
    facts_d: str | Path | None = Field(None, description="The custom facts folder; default the node's "
                                       "$PARTOUT_FACTS_D, else /etc/partout/facts.d.")


class WgetOptions(RoleOptions):
    """Download a URL to a file with a sha256 check, only when missing or different."""

    title_field = "path"
    module = "download"

    url: str = Field(description="http://, https://, ftp:// or file:// URL.")
    sha256: str | None = Field(None, description="Expected sha256; the file is fetched again when its hash differs.")
    mode: str | None = Field(None, description="Octal mode, e.g. '0755'.")
    owner: str | int | None = Field(None, description="Owner, by name or uid.")
    group: str | int | None = Field(None, description="Group, by name or gid.")
    timeout: float | None = Field(None, description="Seconds before the download is given up; default 60.")


class BinfileOptions(RoleOptions):
    """Copy a file kept beside the calling policy, byte for byte, only when it differs."""

    title_field = "path"
    module = "file"

    source: str | Path = Field(description="The file to copy, relative to the calling policy; read at compile time.")
    mode: str | None = Field(None, description="Octal mode, e.g. '0644'.")
    owner: str | int | None = Field(None, description="Owner, by name or uid.")
    group: str | int | None = Field(None, description="Group, by name or gid.")
    backup: bool | None = Field(None, description="Keep a replaced copy in the backup store (default true).")


class StrReplaceInfileOptions(RoleOptions):
    """Replace every match of a regular expression in a text file; idempotent."""

    title_field = "path"
    module = "replace"

    pattern: str = Field(description="A Python regular expression; it must not match its own replacement.")
    replacement: str = Field(description="The replacement; \\1 and \\g<name> refer to groups, '' deletes.")
    flags: str | None = Field(None, description="Regex flags among i, m, s, x; default 'm'.")
    name: str | None = Field(None, description="The resource title; default made from path and pattern.")


class LogmsgOptions(RoleOptions):
    """A message in the run's report and the log; changes nothing."""

    title_field = "message"
    module = "message"

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")


class SleepOptions(RoleOptions):
    """Wait between the resources around it (not under --noop): `sleep("5")` or `sleep("why", seconds=5)`."""

    title_field = "seconds"
    module = "pause"

    seconds: float | str | None = Field(None, description="0 to 3600 seconds; default the title.")


class SetEnvOptions(RoleOptions):
    """An environment variable for future logins, in /etc/environment or a shell file."""

    module = "env_var"

    value: str | int | float | None = Field(None, description="The value (needed unless ensure='absent').")
    file: str | None = Field(None, description="/etc/environment (default), an absolute path, or a bare name "
                             "for /etc/profile.d/NAME.")
    ensure: Literal["present", "absent"] = Field("present", description="absent removes the variable.")
    export: bool | None = Field(None, description="Write `export NAME=...`; default true for *.sh and profile.d files.")


class SourceEnvOptions(RoleOptions):
    """Load a KEY=value file into the environment of the commands that run after it."""

    title_field = "file"
    module = "env_load"

    required: bool = Field(False, description="Fail when the file is missing (default: load nothing).")


class RebootOptions(RoleOptions):
    """Reboot only when a flag file says so, then remove the flags; never under --noop."""

    module = "reboot_host"

    flag: Paths | None = Field(None, description="Flag file(s), any of which asks for a reboot; "
                               "default /var/run/reboot-required.")
    when: Paths | None = Field(None, description="A synonym of flag=.")
    command: str | None = Field(None, description="The reboot command; default 'systemctl reboot'.")
    remove_flag: bool | None = Field(None, description="Remove the flags after the command (default true).")
    timeout: float | None = Field(None, description="Seconds the command may take; default 120.")


class LvmOptions(RoleOptions):
    """LVM physical volumes, a volume group on them and its logical volumes; nothing is removed."""

    title_field = "vg"
    module = "volume_group"

    pvs: Paths = Field(description="The devices of the volume group, e.g. ['/dev/sdb'].")
    lvs: dict[str, str] | None = Field(None, description="Logical volumes {name: size}: '10G', '512M', "
                                       "'100%FREE', '50%VG'.")


ROLE_OPTIONS: dict[str, type[RoleOptions]] = {
    "ini_file": IniFileOptions,
    "add_fact": AddFactOptions,
    "wget": WgetOptions,
    "binfile": BinfileOptions,
    "str_replace_infile": StrReplaceInfileOptions,
    "logmsg": LogmsgOptions,
    "sleep": SleepOptions,
    "set_env": SetEnvOptions,
    "source_env": SourceEnvOptions,
    "reboot": RebootOptions,
    "lvm": LvmOptions,
}


def validate_role(role: str, options: dict[str, Any]) -> RoleOptions:
    """The call's options checked against the role's model; ValueError naming role and option."""
    model = ROLE_OPTIONS[role]
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        raise ValueError(f"{role}: {describe_validation(exc, sorted(model.model_fields))}") from None
