"""A concurrent file-like module: exact content and mode of one file."""

from __future__ import annotations

import difflib
import os
import time
from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr

from partout.errors import ResourceError
from partout.modules.base import Change, Module, ModuleOptions, RunContext, Watch


class ProbeOptions(ModuleOptions):
    title_field: ClassVar[str] = "path"

    path: str
    content: str = ""
    mode: str | None = None
    fail: bool = False
    crash: bool = False
    delay: float = 0.0
    journal: str | None = None
    poll: float | None = None
    secret: SecretStr | None = None


def _journal(spec: ProbeOptions, line: str) -> None:
    if spec.journal:
        with open(spec.journal, "a") as handle:
            handle.write(line + "\n")


def check(spec: ProbeOptions, context: RunContext) -> Change | None:
    if spec.crash:
        leaked = spec.secret.get_secret_value() if spec.secret is not None else ""
        raise RuntimeError(f"probe crashed on purpose{' with ' + leaked if leaked else ''}")
    if spec.fail:
        raise ResourceError(f"{spec.path}: cannot apply (fail=True)")
    if spec.delay:
        time.sleep(spec.delay)
    try:
        current = Path(spec.path).read_text()
        mode = f"{os.stat(spec.path).st_mode & 0o7777:04o}"
    except FileNotFoundError:
        current, mode = None, None
    parts = []
    diff = None
    if current != spec.content:
        parts.append("content" if current is not None else "created")
        diff = "".join(difflib.unified_diff((current or "").splitlines(True), spec.content.splitlines(True),
                                            f"{spec.path} (current)", f"{spec.path} (policy)"))
    if spec.mode is not None and mode != spec.mode:
        parts.append(f"mode {mode} -> {spec.mode}")
    if not parts:
        return None
    return Change(summary=", ".join(parts), diff=diff)


def apply(spec: ProbeOptions, change: Change, context: RunContext) -> str | None:
    temporary = f"{spec.path}.partout-tmp"
    with open(temporary, "w") as handle:
        handle.write(spec.content)
    if spec.mode is not None:
        os.chmod(temporary, int(spec.mode, 8))
    os.rename(temporary, spec.path)
    _journal(spec, f"apply {spec.path}")
    return None


def touch(spec: ProbeOptions, context: RunContext) -> str | None:
    _journal(spec, f"touch {spec.path}")
    return "touched"


def watch(spec: ProbeOptions, context: RunContext) -> Watch:
    if spec.poll is not None:
        return Watch(interval=spec.poll)
    return Watch(paths=(Path(spec.path),))


MODULE = Module(name="probe", options=ProbeOptions, check=check, apply=apply, watch=watch,
                actions={"touch": touch}, concurrent=True)
