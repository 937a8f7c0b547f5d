"""What a role file needs to know about the policy that called it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def caller_dir(p2: Any) -> Path:
    """The folder of the file that called the running role, so that `source=` and
    `file=` options of a role are relative to the calling policy, as they are for a
    module called from that policy (a role file's own resources resolve relative to the
    role file, which is not what the policy author means)."""
    compilation = getattr(p2, "_compilation", None)
    calls = getattr(getattr(compilation, "scope", None), "role_calls", ())
    if calls:
        return Path(calls[-1].source.file).parent
    return Path.cwd()


def policy_path(p2: Any, relative: str | Path) -> Path:
    """`relative` made absolute against the calling policy's folder."""
    path = Path(relative)
    return path if path.is_absolute() else caller_dir(p2) / path
