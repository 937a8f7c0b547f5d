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


def require_option(role: str, options: dict[str, Any], name: str) -> Any:
    """The value of a required role option, or a ValueError naming role and option."""
    if options.get(name) is None:
        raise ValueError(f"{role}: missing required option '{name}'")
    return options[name]


def reject_unknown(role: str, options: dict[str, Any], known: set[str]) -> None:
    """A typo in a role option is an error naming the role and the option."""
    unknown = sorted(set(options) - known)
    if unknown:
        import difflib

        hint = ""
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        if close:
            hint = f"; did you mean '{close[0]}'?"
        raise ValueError(f"{role}: unknown option '{unknown[0]}'{hint} (known: {', '.join(sorted(known))})")
