"""The `pause` directive (wrapped by the `sleep` role): wait a few seconds between the
resources around it, e.g. for a service to settle after a restart.

A pause is a barrier (not concurrent): resources declared after it start after it.
It changes nothing, so it reports ok and a second run has 0 changed. `--noop` does not
wait: nothing was applied before it that would need time to settle.
"""

from __future__ import annotations

import time

from pydantic import Field

from partout.modules.base import STATELESS, Change, Module, ModuleOptions, RunContext

MAX_SECONDS = 3600.0


class PauseOptions(ModuleOptions):
    """Wait some seconds (not in noop); changes nothing."""

    name: str = Field(description="A label (the title).")
    seconds: float = Field(ge=0, le=MAX_SECONDS, description="How long to wait, 0 to 3600 seconds.")


def check(spec: PauseOptions, context: RunContext) -> Change | None:
    if not context.noop and spec.seconds > 0:
        time.sleep(spec.seconds)
    return None


def apply(spec: PauseOptions, change: Change, context: RunContext) -> str | None:
    return None


MODULE = Module(
    name="pause",
    options=PauseOptions,
    check=check,
    apply=apply,
    watching=STATELESS,
    concurrent=False,
    summary="Wait some seconds between resources (not in noop); changes nothing (the sleep role wraps it).",
)
