"""The `fact` directive (wrapped by the `add_fact` role): a custom fact written as
`<facts_d>/<name>.json` holding `{"<name>": value}`, so every later run's
`facts.custom.<name>` has it (partout.facts.custom reads that folder). The role also
puts it into the running compile's facts. Idempotent: the file is rewritten only when
its JSON differs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.base import BY_PATH, Change, Module, ModuleOptions, RunContext, Watch
from partout.modules.fields import must_be_absolute
from partout.modules.files import fileops
from partout.modules.files.diff import content_diff

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FactOptions(ModuleOptions):
    """A custom fact kept in the facts.d folder for later runs."""

    name: str = Field(description="The fact's name (the title): a Python identifier, read as facts.custom.<name>.")
    value: Any = Field(description="Any JSON value: string, number, bool, list, mapping, null.")
    facts_d: Path | None = Field(
        None,
        description=(
            "The custom facts folder. Default: the running node's (`partout apply --facts-d`, else "
            "$PARTOUT_FACTS_D, else /etc/partout/facts.d), decided when the resource runs (not where "
            "the policy compiles). Created 0755 if missing."
        ),
    )

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"fact name {name!r} must be an identifier (letters, digits, _), e.g. 'rack'")
        return name

    @field_validator("value")
    @classmethod
    def _json(cls, value: Any) -> Any:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"value must be JSON-serialisable: {exc}") from None
        return value

    @field_validator("facts_d")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        return must_be_absolute(path, field="facts_d") if path is not None else None


def facts_dir(spec: FactOptions, context: RunContext) -> Path:
    if spec.facts_d is not None:
        return spec.facts_d
    if context.facts_d is not None:
        return context.facts_d
    from partout.facts.custom import DEFAULT_FACTS_D

    return DEFAULT_FACTS_D


def fact_file(spec: FactOptions, context: RunContext) -> Path:
    return facts_dir(spec, context) / f"{spec.name}.json"


def rendered(spec: FactOptions) -> bytes:
    return (json.dumps({spec.name: spec.value}, indent=2, sort_keys=True) + "\n").encode("utf-8")


def check(spec: FactOptions, context: RunContext) -> Change | None:
    path = fact_file(spec, context)
    state = fileops.inspect(path, read_content=True)
    wanted = rendered(spec)
    if state.kind == "file" and state.content == wanted:
        return None
    if state.kind not in ("missing", "file"):
        raise ResourceError(f"{path} is a {state.kind}, not a regular file; nothing changed")
    summary = f"fact {spec.name} " + ("added" if state.kind == "missing" else "changed")
    return Change(summary=summary, diff=content_diff(str(path), state.content or b"", wanted))


def apply(spec: FactOptions, change: Change, context: RunContext) -> str | None:
    path = fact_file(spec, context)
    try:
        folder = facts_dir(spec, context)
        if not folder.is_dir():
            os.makedirs(folder, mode=0o755, exist_ok=True)
        fileops.write_atomically(path, rendered(spec), mode=0o644)
    except OSError as exc:
        raise ResourceError(f"{path}: {exc.strerror or exc}") from exc
    return None


def watch(spec: FactOptions, context: RunContext) -> Watch:
    return Watch(paths=(fact_file(spec, context),))


MODULE = Module(
    name="fact",
    options=FactOptions,
    check=check,
    apply=apply,
    watch=watch,
    watching=BY_PATH,
    concurrent=True,
    summary="Keep a custom fact in the facts.d folder for later runs (the add_fact role wraps it).",
)
