"""The `env_var` directive (wrapped by the `set_env` role): one environment variable in
/etc/environment (pam_env: `NAME="value"`) or in a shell file such as
/etc/profile.d/partout.sh (`export NAME="value"`), other lines kept as they are.
Idempotent: a line that already sets the value is left exactly as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from partout.modules.base import BY_PATH, Change, Module, ModuleOptions, RunContext, Watch
from partout.modules.rolehelpers.envfile import set_variable, valid_name
from partout.modules.rolehelpers.textedit import read_text, text_change, write_text

DEFAULT_FILE = Path("/etc/environment")


class EnvVarOptions(ModuleOptions):
    """Set (or remove) an environment variable in /etc/environment or a profile.d file."""

    name: str = Field(description="A label (the title); the set_env role makes it from the variable and file.")
    variable: str = Field(description="The variable's name, e.g. JAVA_HOME.")
    value: str | None = Field(None, description="Its value (required with ensure='present').")
    path: Path = Field(DEFAULT_FILE, description="The file: /etc/environment or a shell file, e.g. /etc/profile.d/app.sh.")
    ensure: Literal["present", "absent"] = Field("present", description="present: set; absent: every assignment removed.")
    export: bool | None = Field(
        None, description="Write `export NAME=...` (shell files). Default: True for *.sh and profile.d files, else False."
    )

    title_field = "name"

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        if not path.is_absolute():
            raise ValueError(f"file {str(path)!r} must be an absolute path, e.g. '/etc/profile.d/app.sh'")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> EnvVarOptions:
        if not valid_name(self.variable):
            raise ValueError(f"variable name {self.variable!r} must be letters, digits and _, not starting with a digit")
        if self.ensure == "present":
            if self.value is None:
                raise ValueError("value is required with ensure='present'")
            if "\n" in self.value:
                raise ValueError("value cannot hold a newline")
            if not self.exported() and ('"' in self.value or "\\" in self.value):
                raise ValueError(f"{self.path} is read by pam_env, which cannot hold '\"' or '\\' in a value")
        return self

    def exported(self) -> bool:
        if self.export is not None:
            return self.export
        return self.path.suffix == ".sh" or self.path.parent.name == "profile.d"


def _new_text(spec: EnvVarOptions, old: str | None) -> str:
    value = spec.value if spec.ensure == "present" else None
    return set_variable(old or "", spec.variable, value, export=spec.exported())


def check(spec: EnvVarOptions, context: RunContext) -> Change | None:
    old = read_text(spec.path)
    if old is None and spec.ensure == "absent":
        return None
    verb = "set" if spec.ensure == "present" else "removed"
    return text_change(spec.path, old, _new_text(spec, old), f"{spec.variable} {verb}")


def apply(spec: EnvVarOptions, change: Change, context: RunContext) -> str | None:
    old = read_text(spec.path)
    if old is None and spec.ensure == "absent":
        return None
    new = _new_text(spec, old)
    if new != old:
        write_text(spec.path, new, context, mode=0o644)
    return None


def watch(spec: EnvVarOptions, context: RunContext) -> Watch:
    return Watch(paths=(spec.path,))


MODULE = Module(
    name="env_var",
    options=EnvVarOptions,
    check=check,
    apply=apply,
    watching=BY_PATH,
    watch=watch,
    concurrent=False,
    summary="Set an environment variable in /etc/environment or a profile.d file (the set_env role wraps it).",
)
