"""The mutable state of one compile: resources declared so far and the block they are in.

Resources stay mutable `Entry` values until the end of the compile because `p2.on(event,
p2.command(...))` turns resources into event handlers after they were declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from partout.dsl.catalog import Resource, SourceLocation
from partout.errors import PolicyError
from partout.modules.base import ModuleOptions

Guard = str | bool | None


@dataclass
class Entry:
    """One declared resource, before it is frozen into a `Resource`."""

    id: str
    module: str
    title: str
    options: ModuleOptions
    source: SourceLocation
    # " (in role 'web' called at site.p2:5)": appended to errors found after declaration.
    context: str = ""
    require: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    on: dict[str, str] = field(default_factory=dict)
    refresh_only: bool = False
    onlyif: Guard = None
    unless: Guard = None
    watch: bool = False
    hidden: bool = False

    def label(self) -> str:
        """`file("/etc/motd")`, as the policy wrote the call."""
        return describe_call(self.module, self.title)

    def error(self, message: str) -> PolicyError:
        return PolicyError(f"{self.label()}: {message}{self.context}", file=self.source.file, line=self.source.line)

    def freeze(self) -> Resource:
        # The compiler validated every field already, so no second validation pass
        # (1,000 resources must compile in a few tens of milliseconds).
        return _construct(
            id=self.id,
            module=self.module,
            title=self.title,
            options=self.options,
            require=tuple(self.require),
            before=tuple(self.before),
            on=dict(self.on),
            refresh_only=self.refresh_only,
            onlyif=self.onlyif,
            unless=self.unless,
            watch=self.watch,
            hidden=self.hidden,
            source=self.source,
        )


@dataclass(frozen=True)
class RoleCall:
    name: str
    title: str
    source: SourceLocation


@dataclass(frozen=True)
class Scope:
    """What the enclosing blocks (`p2.node`, `p2.watch`, `p2.on`, a role call) add to the
    resources declared inside them."""

    # False inside a `p2.node` block that does not select this node: its resources are
    # checked (directive and option names) but left out of the catalog.
    active: bool = True
    watch: bool = False
    # (event, explicit action or None for the module's default) from enclosing p2.on blocks.
    events: tuple[tuple[str, str | None], ...] = ()
    role_calls: tuple[RoleCall, ...] = ()
    # Meta-options given to a role call apply to every resource the role declares.
    require: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    on: tuple[tuple[str, str], ...] = ()
    onlyif: Guard = None
    unless: Guard = None
    hidden: bool = False

    @cached_property
    def context(self) -> str:
        """" (in role 'web' called at site.p2:5)" for errors inside roles, innermost first."""
        return "".join(
            f" (in role '{call.name}' called at {call.source})" for call in reversed(self.role_calls)
        )


def describe_call(directive: str, title: Any) -> str:
    return f'{directive}("{title}")'


def both_guards(outer: Guard, inner: Guard, *, joiner: str) -> Guard:
    """Combine a role call's guard with a resource's own. `onlyif` needs both to hold
    (shell `&&`), `unless` skips when either holds (shell `||`)."""
    if outer is None:
        return inner
    if inner is None:
        return outer
    if isinstance(outer, bool) or isinstance(inner, bool):
        deciding, other = (outer, inner) if isinstance(outer, bool) else (inner, outer)
        if joiner == "&&":
            return other if deciding else False
        return True if deciding else other
    return f"({outer}) {joiner} ({inner})"


_RESOURCE_FIELDS = frozenset(Resource.model_fields)


def _construct(**values: Any) -> Resource:
    """`Resource.model_construct` for a full set of already-valid fields, without its
    per-field bookkeeping (half the cost). Falls back to it if Resource ever gains a
    post-init hook or private attributes, which this shortcut would skip."""
    if Resource.__pydantic_post_init__ is not None or Resource.__private_attributes__:
        return Resource.model_construct(**values)
    resource = Resource.__new__(Resource)
    object.__setattr__(resource, "__dict__", values)
    object.__setattr__(resource, "__pydantic_fields_set__", set(_RESOURCE_FIELDS))
    object.__setattr__(resource, "__pydantic_extra__", None)
    object.__setattr__(resource, "__pydantic_private__", None)
    return resource
