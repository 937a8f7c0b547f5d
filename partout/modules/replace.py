"""The `replace` directive (wrapped by the `str_replace_infile` role): a regular
expression replacement in a text file.

Idempotent by construction: the desired content is `re.sub` of the current content, so
once replaced, nothing matches any more, or matches replace to themselves. A
replacement that would match the pattern again (pattern `foo`, replacement `foobar`)
would grow the file on every run; `check` detects it (applying twice gives a different
text than applying once) and fails, naming the fix (a pattern that excludes the
replaced text, e.g. `foo(?!bar)`), before anything is written.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from partout.errors import ResourceError
from partout.modules.base import BY_PATH, Change, Module, ModuleOptions, RunContext, Watch
from partout.modules.fields import AbsolutePath
from partout.modules.rolehelpers.textedit import read_text, text_change, write_text

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class ReplaceOptions(ModuleOptions):
    """Replace every match of a regular expression in a text file; idempotent."""

    name: str = Field(description="A label (the title); the str_replace_infile role makes it from path and pattern.")
    path: AbsolutePath = Field(description="Absolute path of the file to edit; it must exist.")
    pattern: str = Field(description="Python regular expression (re module syntax).")
    replacement: str = Field(description=r"Replacement text; \1 or \g<name> insert groups.")
    flags: str = Field("m", description="Regex flags: any of i (ignore case), m (multiline, default), s (dotall), x (verbose).")

    title_field = "name"

    @field_validator("flags")
    @classmethod
    def _flags(cls, flags: str) -> str:
        unknown = set(flags) - set(_FLAGS)
        if unknown:
            raise ValueError(f"unknown regex flag {sorted(unknown)[0]!r}; use i, m, s or x")
        return flags

    @model_validator(mode="after")
    def _compiles(self) -> ReplaceOptions:
        try:
            self.compiled()
        except re.error as exc:
            raise ValueError(f"pattern or replacement is not valid: {exc}") from None
        return self

    def compiled(self) -> re.Pattern[str]:
        value = 0
        for letter in self.flags:
            value |= _FLAGS[letter]
        return re.compile(self.pattern, value)


def replaced(spec: ReplaceOptions, text: str) -> tuple[str, int]:
    try:
        return spec.compiled().subn(spec.replacement, text)
    except (re.error, IndexError) as exc:
        raise ResourceError(f"{spec.path}: replacement {spec.replacement!r} is not valid for {spec.pattern!r}: {exc}") from exc


def _new_text(spec: ReplaceOptions) -> tuple[str, str, int]:
    old = read_text(spec.path)
    if old is None:
        raise ResourceError(f"{spec.path} does not exist; nothing to replace in (declare the file first)")
    new, number = replaced(spec, old)
    if new != old:
        again, _ = replaced(spec, new)
        if again != new:
            raise ResourceError(
                f"{spec.path}: replacing {spec.pattern!r} with {spec.replacement!r} is not idempotent: the "
                f"replacement matches the pattern again, so every run would change the file; make the pattern "
                f"exclude the replaced text (e.g. with a negative lookahead like 'foo(?!bar)'); nothing changed"
            )
    return old, new, number


def check(spec: ReplaceOptions, context: RunContext) -> Change | None:
    old, new, number = _new_text(spec)
    return text_change(spec.path, old, new, f"{number} replacement{'s' if number != 1 else ''} of {spec.pattern!r}")


def apply(spec: ReplaceOptions, change: Change, context: RunContext) -> str | None:
    old, new, _ = _new_text(spec)
    if new != old:
        write_text(spec.path, new, context)
    return None


def watch(spec: ReplaceOptions, context: RunContext) -> Watch:
    return Watch(paths=(spec.path,))


MODULE = Module(
    name="replace",
    options=ReplaceOptions,
    check=check,
    apply=apply,
    watching=BY_PATH,
    watch=watch,
    concurrent=False,
    summary="Replace matches of a regular expression in a text file, idempotently (the str_replace_infile role wraps it).",
)
