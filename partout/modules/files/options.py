"""The options of the `file` directive: what `partout doc file` shows and the compiler checks."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from partout.modules.base import ModuleOptions
from partout.modules.fields import OCTAL_MODE, must_be_absolute


class FileOptions(ModuleOptions):
    """Manage one file, directory or symlink: its content, type, mode, owner and group."""

    title_field = "path"

    path: Path = Field(description="Absolute path of the file, directory or link (the title).")
    ensure: Literal["file", "present", "absent", "directory", "link"] = Field(
        "file",
        description=(
            "file: a regular file; present: anything already there is accepted, else an "
            "empty or given-content file is made; absent: removed (a directory only with "
            "force); directory; link: a symlink to `target`."
        ),
    )
    target: str | None = Field(None, description="What the symlink points to (ensure='link').")
    content: str | None = Field(None, description="Exact content of the file (text).")
    content_base64: str | None = Field(
        None,
        description=(
            "Exact content as base64, for binary files. A `source` that is not UTF-8 "
            "text is stored here at compile time."
        ),
    )
    source: str | None = Field(
        None, description="A file to copy, relative to the policy's directory; read at compile time."
    )
    template: str | None = Field(
        None,
        description=(
            "A Jinja2 template file relative to the policy's directory, rendered at compile "
            "time with facts, vars and title in scope (undefined names are errors)."
        ),
    )
    is_template: bool = Field(False, description="Render `content` itself as a Jinja2 template.")
    vars: dict[str, object] | None = Field(
        None, description="Variables for `template` / `is_template`: {{ vars.name }} or {{ name }}."
    )
    mode: str | None = Field(
        None,
        description=(
            "Octal permission bits as a string, e.g. '0644' or '644'. Kept as is when unset. "
            "A directory also gets the x bit wherever the mode has r ('0644' -> 0755)."
        ),
        json_schema_extra={"pattern": OCTAL_MODE.pattern},
    )
    owner: str | int | None = Field(None, description="Owning user, a name or a uid. Kept as is when unset.")
    group: str | int | None = Field(None, description="Owning group, a name or a gid. Kept as is when unset.")
    recurse: bool = Field(
        False,
        description=(
            "For a directory: apply owner, group and mode to everything inside too "
            "(directories get an x bit wherever mode has an r bit)."
        ),
    )
    backup: bool = Field(True, description="Keep the content a change replaces or removes in the backup store "
                         "(for a directory removed with force, every file in its tree; restore them with "
                         "`partout backups restore`, list them with `partout backups list DIR`).")
    show_diff: bool = Field(
        True,
        description=(
            "Show a unified diff of content changes in reports; False shows only sizes and "
            "sha256 prefixes (for secrets)."
        ),
    )
    force: bool = Field(
        False,
        description=(
            "Replace something of the wrong type (a directory, a symlink, a file) with what "
            "ensure asks for; without it such a path is an error and is left alone."
        ),
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return must_be_absolute(path, example="/etc/motd")

    @field_validator("mode")
    @classmethod
    def _octal(cls, mode: str | None) -> str | None:
        if mode is not None and not OCTAL_MODE.match(mode):
            raise ValueError(f"mode {mode!r} is not an octal mode; use 3 or 4 digits 0-7, e.g. '0644'")
        return mode

    @field_validator("content_base64")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"content_base64 is not valid base64: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FileOptions:
        given = [name for name in ("content", "content_base64", "source", "template") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(given)}")
        if self.is_template and self.content is None:
            raise ValueError("is_template=True needs content= (or use template= for a template file)")
        if given and self.ensure in ("absent", "directory", "link"):
            raise ValueError(f"{given[0]} does not apply to ensure={self.ensure!r}")
        if self.ensure == "link":
            if not self.target:
                raise ValueError("ensure='link' needs target=, the path the link points to")
            if self.mode is not None:
                raise ValueError("mode does not apply to a symlink (Linux ignores link permissions)")
        elif self.target is not None:
            raise ValueError("target= is only for ensure='link'")
        if self.recurse and self.ensure != "directory":
            raise ValueError("recurse=True is only for ensure='directory'")
        return self

    def desired_content(self) -> bytes | None:
        """The bytes the file must hold, or None when content is not managed."""
        if self.content is not None:
            return self.content.encode("utf-8")
        if self.content_base64 is not None:
            return base64.b64decode(self.content_base64)
        return None

    def mode_bits(self) -> int | None:
        return int(self.mode, 8) if self.mode is not None else None
