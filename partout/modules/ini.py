"""The `ini` directive (wrapped by the `ini_file` role): set or remove keys in sections
of an INI file, keeping everything else (comments, order, other sections) as it is.

`check` reads the file and computes the new text from it; no difference, no change. So a
second run finds nothing to do. `apply` computes again from the file as it is then
(another resource may have edited it in between) and writes atomically, with a backup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from partout.errors import ResourceError
from partout.modules.base import BY_PATH, Change, Module, ModuleOptions, RunContext, Watch
from partout.modules.fields import must_be_absolute
from partout.modules.rolehelpers.inifile import remove_values, set_values
from partout.modules.rolehelpers.textedit import read_text, text_change, write_text

Scalar = str | int | float | bool


class IniOptions(ModuleOptions):
    """Set (or remove) keys in sections of an INI file, keeping the rest and comments."""

    name: str = Field(description="A label for the resource (the title); the ini_file role makes it from path, section and keys.")
    path: Path = Field(description="Absolute path of the INI file.")
    values: dict[str, dict[str, Scalar] | None] = Field(
        description=(
            "{section: {key: value}}. Section '' is the part before the first header. "
            "With ensure='absent' the values are ignored and a section given as None or {} is removed whole."
        ),
    )
    ensure: Literal["present", "absent"] = Field("present", description="present: keys set; absent: keys removed.")
    separator: str = Field(" = ", description="Written between key and value on lines Partout writes.")
    create: bool = Field(True, description="Create the file when it is missing (ensure='present').")
    mode: str | None = Field(None, description="Octal mode of a file Partout creates, e.g. '0644'.")

    title_field = "name"

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return must_be_absolute(path, example="/etc/app.ini")

    @model_validator(mode="after")
    def _consistent(self) -> IniOptions:
        if not self.values:
            raise ValueError("values is empty: give section=, key= and value=, or values={section: {key: value}}")
        if self.ensure == "present":
            for section, keys in self.values.items():
                if not keys:
                    raise ValueError(f"section {section!r} has no keys to set")
        # Names and values are compared as INI readers see them (stripped): anything a
        # reader would see differently from what was asked would be rewritten every run.
        for section, keys in self.values.items():
            if "\n" in section or "]" in section or section != section.strip():
                raise ValueError(f"section name {section!r} cannot hold ']', a newline or surrounding spaces")
            for key, value in (keys or {}).items():
                if not key or key != key.strip() or "=" in key or "\n" in key or key[0] in ";#[":
                    raise ValueError(
                        f"key {key!r} in section {section!r} must be non-empty, without '=', newlines, "
                        f"surrounding spaces or a leading ';', '#' or '['"
                    )
                text = str(value)
                if "\n" in text or text != text.strip():
                    raise ValueError(f"value of {section!r}/{key!r} cannot hold a newline or surrounding spaces")
        if self.mode is not None and not (self.mode.isdigit() and set(self.mode) <= set("01234567") and len(self.mode) in (3, 4)):
            raise ValueError(f"mode {self.mode!r} is not an octal mode such as '0644'")
        return self


def _new_text(spec: IniOptions, old: str | None) -> str:
    if spec.ensure == "absent":
        return remove_values(old or "", spec.values)
    return set_values(old or "", {section: keys or {} for section, keys in spec.values.items()}, separator=spec.separator)


def _describe(spec: IniOptions) -> str:
    verb = "set" if spec.ensure == "present" else "removed"
    parts = [f"[{section}] {', '.join(keys)}" if keys else f"[{section}]" for section, keys in spec.values.items()]
    return f"{verb} {'; '.join(parts)}"


def check(spec: IniOptions, context: RunContext) -> Change | None:
    old = read_text(spec.path)
    if old is None:
        if spec.ensure == "absent":
            return None
        if not spec.create:
            raise ResourceError(f"{spec.path} does not exist (create=False); nothing changed")
    return text_change(spec.path, old, _new_text(spec, old), _describe(spec))


def apply(spec: IniOptions, change: Change, context: RunContext) -> str | None:
    old = read_text(spec.path)
    if old is None and (spec.ensure == "absent" or not spec.create):
        return None
    new = _new_text(spec, old)
    if new != old:
        write_text(spec.path, new, context, mode=int(spec.mode, 8) if spec.mode else None)
    return None


def watch(spec: IniOptions, context: RunContext) -> Watch:
    return Watch(paths=(spec.path,))


MODULE = Module(
    name="ini",
    options=IniOptions,
    check=check,
    apply=apply,
    watching=BY_PATH,
    watch=watch,
    # Two ini resources often edit the same file: never at the same time.
    concurrent=False,
    summary="Set or remove keys in sections of an INI file, keeping the rest (the ini_file role wraps it).",
)
