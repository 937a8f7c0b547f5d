"""The compiled form of a policy: resources in declaration order, validated, acyclic.

A policy compiles into a `Catalog` before anything is applied. Each `Resource` carries
its module's options model plus the meta-options every directive accepts (ordering,
events, guards, watch) and the policy file and line it was declared on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from partout.dsl.dependencies import dependency_graph
from partout.modules.base import ModuleOptions


# The action every module accepts in `on=`, whatever its own `actions`: check and apply the
# resource as a normal run would. `p2.on(event)` handlers default to the module's first
# action, or to this one when the module declares none.
APPLY_ACTION = "apply"


# defer_build: compiled catalogs are built with model_construct; their schemas are needed
# only to read a catalog back from JSON, so `partout apply` does not pay for building them.
class SourceLocation(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def resource_id(module: str, title: str) -> str:
    return f"{module}:{title}"


class Resource(BaseModel):
    """One managed thing, id `module:title`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    module: str
    title: str
    options: SerializeAsAny[ModuleOptions]
    require: tuple[str, ...] = Field((), description="Ids that must be applied first.")
    before: tuple[str, ...] = Field((), description="Ids that must be applied after this.")
    on: dict[str, str] = Field(
        default_factory=dict,
        description="Event ('file:/x:changed') -> action of this module ('restart').",
    )
    # Declared inside p2.on(event, ...): runs only when one of `on`'s events fires.
    refresh_only: bool = False
    # A shell command (exit 0 = true) or, for a callable guard, its value on the facts,
    # computed at compile time.
    onlyif: str | bool | None = None
    unless: str | bool | None = None
    watch: bool = False
    # Roles may hide helper resources (add_fact) from the human report.
    hidden: bool = False
    source: SourceLocation


class Catalog(BaseModel):
    """Resources in declaration order; the compiler has checked ids and the graph."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    policy: str
    resources: tuple[Resource, ...] = ()

    def by_id(self) -> dict[str, Resource]:
        return {resource.id: resource for resource in self.resources}

    def dependencies(self) -> dict[str, set[str]]:
        """id -> the ids that must finish before it (see `partout.dsl.dependencies`)."""
        return {rid: set(firsts) for rid, firsts in dependency_graph(self.resources).items()}

    def summary(self) -> dict[str, Any]:
        return {"policy": self.policy, "resources": len(self.resources)}
