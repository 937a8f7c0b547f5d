"""The `reboot_host` directive (wrapped by the `reboot` role): reboot the machine, but
only when a flag file says a reboot is needed (/var/run/reboot-required, written by
Debian's package tools, by default).

`check` only looks for the flag, so `--noop` never reboots, and without the flag the
resource is ok. `apply` runs the reboot command (default `systemctl reboot`, which
schedules the reboot and returns) and then removes the flag files, so a flag kept on a
disk that survives the reboot does not cause a reboot loop. A failing command keeps
the flags and fails the resource.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.base import STATELESS, Change, Module, ModuleOptions, RunContext

DEFAULT_FLAG = Path("/var/run/reboot-required")


class RebootOptions(ModuleOptions):
    """Reboot when a flag file exists; never under --noop."""

    name: str = Field(description="A label (the title).")
    flags: list[Path] = Field(
        default_factory=lambda: [DEFAULT_FLAG],
        description="Flag files: a reboot happens when any of them exists. Default: /var/run/reboot-required.",
        min_length=1,
    )
    command: str = Field("systemctl reboot", description="The shell command that reboots (or schedules a reboot).")
    remove_flags: bool = Field(True, description="Remove the flag files once the command succeeded.")
    timeout: float = Field(120, gt=0, description="Seconds the command may take.")

    @field_validator("flags")
    @classmethod
    def _absolute(cls, flags: list[Path]) -> list[Path]:
        for flag in flags:
            if not flag.is_absolute():
                raise ValueError(f"flag {str(flag)!r} must be an absolute path")
        return flags


def _raised(spec: RebootOptions) -> list[Path]:
    return [flag for flag in spec.flags if os.path.lexists(flag)]


def check(spec: RebootOptions, context: RunContext) -> Change | None:
    raised = _raised(spec)
    if not raised:
        return None
    return Change(summary=f"reboot ({', '.join(str(flag) for flag in raised)} exists)")


def apply(spec: RebootOptions, change: Change, context: RunContext) -> str | None:
    from partout.modules.command import CommandOptions, run

    raised = _raised(spec)
    if not raised:
        return None
    output = run(CommandOptions(cmd=spec.command, timeout=spec.timeout))
    if spec.remove_flags:
        for flag in raised:
            try:
                os.unlink(flag)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ResourceError(f"reboot command ran, but flag {flag} could not be removed: {exc.strerror}") from exc
    return output or None


MODULE = Module(
    name="reboot_host",
    options=RebootOptions,
    check=check,
    apply=apply,
    watching=STATELESS,
    concurrent=False,
    summary="Reboot only when a flag file says so; never under --noop (the reboot role wraps it).",
)
