"""Built-in roles: directives written in the P2 DSL itself, one `NAME.p2` file per directive.

The compiler looks for a role file only when a policy uses a directive that is neither a
module nor a role defined with `p2.role`, in this order: the `roles/` folder beside the
policy, the folders the caller passes as `roles_dirs`, then `BUILTIN_ROLES_DIR`.
"""

from __future__ import annotations

from pathlib import Path

BUILTIN_ROLES_DIR = Path(__file__).parent


def builtin_roles_dirs() -> tuple[Path, ...]:
    """The folders holding the roles shipped with Partout (searched last)."""
    return (BUILTIN_ROLES_DIR,)
