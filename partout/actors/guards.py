"""`onlyif=` / `unless=` guards: a value computed at compile time, or a shell command
whose exit status decides (0 = true), as in Puppet and Salt."""

from __future__ import annotations

import subprocess

from partout.dsl.catalog import Resource
from partout.errors import ResourceError

GUARD_TIMEOUT = 60.0


def _holds(guard: str | bool) -> bool:
    if isinstance(guard, bool):
        return guard
    try:
        completed = subprocess.run(
            ["/bin/sh", "-c", guard],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=GUARD_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ResourceError(f"guard command {guard!r} did not finish within {GUARD_TIMEOUT:.0f} s") from exc
    return completed.returncode == 0


def _describe(guard: str | bool) -> str:
    return "is false" if isinstance(guard, bool) else f"`{guard}` exited non-zero"


def guard_refusal(resource: Resource) -> str | None:
    """Why the guards say no to this resource, or None when it may run."""
    if resource.onlyif is not None and not _holds(resource.onlyif):
        return f"onlyif {_describe(resource.onlyif)}"
    if resource.unless is not None and _holds(resource.unless):
        reason = "is true" if isinstance(resource.unless, bool) else f"`{resource.unless}` exited 0"
        return f"unless {reason}"
    return None
