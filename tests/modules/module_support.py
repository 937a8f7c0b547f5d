"""What the module tests share: run one resource the way the engine does."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TypeVar

from partout.modules.base import Module, ModuleOptions, RunContext

Options = TypeVar("Options", bound=ModuleOptions)


def check_then_apply(module: Module[Options], spec: Options, context: RunContext) -> str | None:
    """Check `spec`, apply it only when check finds a change, and return that change's
    summary (None: nothing to do)."""
    change = module.check(spec, context)
    if change is None:
        return None
    module.apply(spec, change, context)
    return change.summary


def account_root(tmp_path: Path) -> Path:
    """A system root whose etc/ holds copies of this machine's account files, for the
    account tools' --root."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    return root
