"""The `env_load` directive (wrapped by the `source_env` role): read a KEY=value file
(/etc/environment, a profile.d file) at its place in the run and put its variables into
the environment of the Partout process, so the commands that run after it (and their
onlyif/unless guards) see them, as if the file had been sourced. No shell runs: quotes
are removed, `$VAR` is not expanded.

It changes nothing on the machine, so it reports ok (and the variables it loaded in the
output of a changed run are never shown: they may be secrets). It loads under --noop
too, so guards are evaluated as in a real run. A missing file loads nothing unless
`required=True`.
"""

from __future__ import annotations

import logging
import os

from pydantic import Field

from partout.errors import ResourceError
from partout.modules.base import STATELESS, Change, Module, ModuleOptions, RunContext
from partout.modules.fields import AbsolutePath
from partout.modules.rolehelpers.envfile import parse
from partout.modules.rolehelpers.textedit import read_text

log = logging.getLogger(__name__)


class EnvLoadOptions(ModuleOptions):
    """Load a KEY=value file into the environment of later commands in the run."""

    title_field = "path"

    path: AbsolutePath = Field(description="The file to read (the title), e.g. /etc/environment.")
    required: bool = Field(False, description="Fail when the file is missing (default: load nothing).")


def load(spec: EnvLoadOptions) -> dict[str, str]:
    text = read_text(spec.path)
    if text is None:
        if spec.required:
            raise ResourceError(f"{spec.path} does not exist (required=True)")
        return {}
    variables = parse(text)
    os.environ.update(variables)
    log.debug("environment loaded", extra={"path": str(spec.path), "names": sorted(variables)})
    return variables


def check(spec: EnvLoadOptions, context: RunContext) -> Change | None:
    load(spec)
    return None


def apply(spec: EnvLoadOptions, change: Change, context: RunContext) -> str | None:
    return None


MODULE = Module(
    name="env_load",
    options=EnvLoadOptions,
    check=check,
    apply=apply,
    watching=STATELESS,
    # A barrier: commands declared after it run after the variables are loaded.
    concurrent=False,
    summary="Load a KEY=value file into the environment of the commands after it (the source_env role wraps it).",
)
