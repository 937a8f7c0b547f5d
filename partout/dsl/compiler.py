"""Policy -> Catalog. Compile first, apply second: every error in a policy (syntax, unknown
directive or option, bad value, missing template, duplicate id, unknown reference, cycle,
any Python exception) is a `PolicyError` naming the policy file and line, raised before
anything is touched. Compiling has no side effects beyond what the policy's own Python does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from partout.dsl.catalog import Catalog
from partout.dsl.compilation import Compilation
from partout.dsl.locations import error_from_exception
from partout.dsl.nodes import Inventory
from partout.dsl.triggers import Trigger
from partout.errors import PolicyError
from partout.roles import builtin_roles_dirs

__all__ = ["compile_policy", "compile_source"]


def compile_policy(path: Path, facts: object, *, roles_dirs: Sequence[Path] = (),
                   inventory: Inventory | None = None, triggers: Sequence[Trigger] = ()) -> Catalog:
    """Compile the policy file at `path` for a node with `facts`.

    Role files are looked up in `path`'s sibling `roles/` folder, then `roles_dirs`, then
    Partout's built-in roles. `inventory` answers `p2.nodes` (partout.dsl.nodes; none: an
    error at the p2.nodes line); `triggers` are the fired ones `p2.on_trigger` blocks see.
    """
    path = Path(path)
    if not path.exists():
        raise PolicyError(f"policy file {path} does not exist", file=path)
    if path.is_dir():
        raise PolicyError(f"policy file {path} is a directory; name a .p2 file", file=path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}", file=path) from None
    return compile_source(source, filename=path, facts=facts, roles_dirs=roles_dirs, inventory=inventory,
                          triggers=triggers)


def compile_source(
    source: str, *, filename: str | Path, facts: object, roles_dirs: Sequence[Path] = (),
    inventory: Inventory | None = None, triggers: Sequence[Trigger] = (),
) -> Catalog:
    """Compile policy text as if it were the file `filename` (includes and the `roles/`
    folder are found relative to it)."""
    shown = str(filename)
    dirs = (Path(shown).parent / "roles", *(Path(directory) for directory in roles_dirs), *builtin_roles_dirs())
    compilation = Compilation(facts, shown, dirs, inventory, triggers)
    try:
        compilation.run_file(shown, source)
    except PolicyError:
        raise
    except (Exception, SystemExit) as exc:
        raise error_from_exception(exc, compilation.policy_files, shown) from exc
    return compilation.catalog()

