"""A test-only module `guarded` that declares `unless` itself and has no actions."""

from __future__ import annotations

from partout.modules.base import Change, Module, ModuleOptions, RunContext


class GuardedOptions(ModuleOptions):
    """A module that handles its own `unless`."""

    name: str
    unless: str | None = None


def check(spec: GuardedOptions, context: RunContext) -> Change | None:
    return None


def apply(spec: GuardedOptions, change: Change, context: RunContext) -> str | None:
    return None


MODULE = Module(name="guarded", options=GuardedOptions, check=check, apply=apply)
