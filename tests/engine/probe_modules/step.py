"""A non-concurrent module (like command): appends its name to a journal, once."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from partout.errors import ResourceError
from partout.modules.base import Change, Module, ModuleOptions, RunContext


class StepOptions(ModuleOptions):
    title_field: ClassVar[str] = "name"

    name: str
    journal: str
    fail: bool = False
    always: bool = False


def _lines(spec: StepOptions) -> list[str]:
    path = Path(spec.journal)
    return path.read_text().splitlines() if path.exists() else []


def check(spec: StepOptions, context: RunContext) -> Change | None:
    if not spec.always and f"step {spec.name}" in _lines(spec):
        return None
    return Change(summary=f"would append {spec.name}")


def apply(spec: StepOptions, change: Change, context: RunContext) -> str | None:
    if spec.fail:
        raise ResourceError(f"step {spec.name} failed on purpose")
    with open(spec.journal, "a") as handle:
        handle.write(f"step {spec.name}\n")
    return f"appended {spec.name}"


def restart(spec: StepOptions, context: RunContext) -> str | None:
    with open(spec.journal, "a") as handle:
        handle.write(f"restart {spec.name}\n")
    return None


MODULE = Module(name="step", options=StepOptions, check=check, apply=apply,
                actions={"restart": restart}, concurrent=False)
