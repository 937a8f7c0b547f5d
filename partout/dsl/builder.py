"""`p2`, the builder a policy talks to.

    (p2
      .file("/etc/motd", content="hi\\n", mode="0644")
      .service("nginx", on={"file:/etc/nginx/nginx.conf:changed": "restart"}))

Every attribute that is not one of the methods below is a directive: a module from
`partout.modules.registry` or a role. A directive call returns a `Chain`, which chains like
the builder and also stands for the resources declared so far in that expression, so it
can be passed to `require=`, `before=` or `p2.on(event, ...)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from partout.dsl.catalog import SourceLocation
from partout.dsl.declare import Declared
from partout.dsl.dependencies import split_event
from partout.dsl.locations import caller_location
from partout.dsl.roles import DslRole
from partout.dsl.state import Entry, Scope
from partout.errors import PolicyError
from partout.modules import registry

if TYPE_CHECKING:
    from partout.dsl.compilation import Compilation
    from partout.dsl.triggers import Trigger

BUILDER_METHODS = frozenset({"node", "watch", "include", "role", "on", "nodes", "on_trigger"})
_NO_TITLE: Any = object()


class P2:
    """The builder in a policy's globals (`p2`)."""

    __slots__ = ("_compilation",)

    def __init__(self, compilation: Compilation) -> None:
        self._compilation = compilation

    def __getattr__(self, name: str) -> Directive:
        if name.startswith("_"):
            raise AttributeError(name)
        directives = self._compilation.directives
        directive = directives.get(name)
        if directive is None:
            directive = directives[name] = Directive(self._compilation, name)
        return directive

    def __repr__(self) -> str:
        return f"<p2 builder for {self._compilation.policy}>"

    def node(self, selector: Any) -> Block:
        """`with p2.node(selector):` declares its resources only on the nodes selected by
        a bool, a callable on facts, a regular expression matched against the whole
        hostname, or a list of hostnames (entries with a dot match the fqdn). Blocks nest."""
        compilation = self._compilation
        location = caller_location(compilation.policy_files)
        scope = compilation.scope
        active = scope.active and selects(selector, compilation.facts, location)
        return Block(compilation, replace(scope, active=active))

    def watch(self) -> Block:
        """`with p2.watch():` sets watch=True (real-time repair) on the block's resources;
        a resource's own `watch=False` still wins."""
        compilation = self._compilation
        return Block(compilation, replace(compilation.scope, watch=True))

    def include(self, path: str | Path) -> P2:
        """Run another policy file, relative to the including file, with the same `p2`
        and `facts` (its own Python globals). A file runs at most once per compile, so
        shared files may be included from several places; an include cycle is an error."""
        compilation = self._compilation
        compilation.include(path, caller_location(compilation.policy_files))
        return self

    def role(self, name: str, function: Callable[..., Any] | None = None) -> Any:
        """Define directive `name`: `function(p2, title, **options)` declares its resources.
        Meta-options of a call (require, before, on, onlyif, unless, watch, hidden) apply
        to every resource the role declares. Also usable as a decorator:
        `@p2.role("site")`."""
        compilation = self._compilation
        location = caller_location(compilation.policy_files)
        if function is None:
            def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
                define_role(compilation, name, function, location)
                return function

            return decorate
        define_role(compilation, name, function, location)
        return self

    def nodes(self, query: str, fields: Sequence[str] | None = None, *, scope: str = "environment") -> list[dict[str, Any]]:
        """The fleet's nodes that `query` matches (the inventory query language, e.g.
        `role == "web" and os.family == "debian"`), each as a dict of the chosen `fields`
        (default id, hostname, environment), sorted by hostname then id. Under an agent the
        master answers (the agent's environment, approved nodes; `scope="all"` asks for every
        environment, if the master allows it) and re-applies this node when the answer
        changes; under `partout apply`, the `--inventory FILE`."""
        from partout.dsl.nodes import nodes_of

        compilation = self._compilation
        return nodes_of(compilation.inventory, query, fields, scope, caller_location(compilation.policy_files))

    def on_trigger(self, name: str, *handlers: Any) -> Block:
        """Declare resources only for the run that trigger `name` caused (`partout trigger
        NAME --where QUERY --data JSON`, an integration, a master rule). As a block,
        `with p2.on_trigger("deploy") as deploy:` gives the Trigger (`deploy.data`, `.sender`;
        data is {} and the block declares nothing when it did not fire); callables given as
        handlers are called with the Trigger only when it fired."""
        from partout.dsl.triggers import on_trigger

        compilation = self._compilation
        return on_trigger(compilation, name, handlers, caller_location(compilation.policy_files))

    def on(self, event: str, *handlers: Any, action: str | None = None) -> Block:
        """Declare handlers of `event` ("module:title:changed|failed|ok"). Handlers run only
        when the event fires (refresh_only) and then perform `action`: by default the
        module's first action (a service's "restart"), or "apply" (a normal check and
        apply; for a command: run it) for modules without actions. Three forms:

            with p2.on("file:/etc/x:changed"):              # a block
                p2.command("systemctl reload x")
            p2.on("file:/etc/x:changed", p2.command("systemctl reload x"))  # resources
            p2.on("file:/etc/x:changed", lambda: p2.command("..."))       # callables

        In the second form the command is declared first, then turned into a handler.
        Compare `on={event: action}` on a directive: that resource still applies itself on
        every run, and an "apply"-like action (a command's "run") coalesces with that apply,
        so a command runs at most once per apply.
        """
        compilation = self._compilation
        location = caller_location(compilation.policy_files)
        if not isinstance(event, str):
            raise PolicyError(f"p2.on takes an event string, not {type(event).__name__}", file=location.file, line=location.line)
        try:
            split_event(event)
        except ValueError as exc:
            raise PolicyError(f"p2.on: {exc}", file=location.file, line=location.line) from None
        if action is not None and not isinstance(action, str):
            raise PolicyError("p2.on: action= takes an action name", file=location.file, line=location.line)
        block = Block(compilation, replace(compilation.scope, events=(*compilation.scope.events, (event, action))))
        for handler in handlers:
            if isinstance(handler, Declared):
                compilation.handle(handler.declared(), event, action, location)
            elif callable(handler):
                with block:
                    handler()
            else:
                raise PolicyError(
                    f"p2.on handlers are directive calls or callables, not {type(handler).__name__}",
                    file=location.file, line=location.line,
                )
        return block


class Directive:
    """`p2.file`: declare resources of one module or role."""

    __slots__ = ("_compilation", "name")

    def __init__(self, compilation: Compilation, name: str) -> None:
        self._compilation = compilation
        self.name = name

    def __call__(self, title: Any = _NO_TITLE, /, **options: Any) -> Chain:
        compilation = self._compilation
        location = caller_location(compilation.policy_files)
        if title is _NO_TITLE:
            raise no_title(self.name, location)
        return Chain(compilation, None, compilation.call(self.name, title, options, location))

    def __repr__(self) -> str:
        return f"<p2 directive {self.name}>"


class Chain(Declared):
    """What a directive call returns: chains like `p2` and remembers what the chain declared."""

    __slots__ = ("_compilation", "_previous", "_entries")

    def __init__(self, compilation: Compilation, previous: Chain | None, entries: list[Entry]) -> None:
        self._compilation = compilation
        self._previous = previous
        self._entries = entries

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attribute = getattr(self._compilation.builder, name)
        if isinstance(attribute, Directive):
            return ChainedDirective(self, attribute)
        return attribute

    def declared(self) -> list[Entry]:
        # A linked list, flattened only when asked, keeps a 1,000-call chain linear.
        parts = []
        chain: Chain | None = self
        while chain is not None:
            parts.append(chain._entries)
            chain = chain._previous
        return [entry for part in reversed(parts) for entry in part]

    def __repr__(self) -> str:
        return f"<p2 chain of {', '.join(entry.id for entry in self.declared())}>"


class ChainedDirective:
    __slots__ = ("_chain", "_directive")

    def __init__(self, chain: Chain, directive: Directive) -> None:
        self._chain = chain
        self._directive = directive

    def __call__(self, title: Any = _NO_TITLE, /, **options: Any) -> Chain:
        compilation = self._chain._compilation
        location = caller_location(compilation.policy_files)
        if title is _NO_TITLE:
            raise no_title(self._directive.name, location)
        entries = compilation.call(self._directive.name, title, options, location)
        return Chain(compilation, self._chain, entries)


class Block:
    """A `with` block that changes the scope of the resources declared inside it."""

    __slots__ = ("_compilation", "_scope", "_outer")

    def __init__(self, compilation: Compilation, scope: Scope) -> None:
        self._compilation = compilation
        self._scope = scope
        self._outer: list[Scope] = []

    def __enter__(self) -> P2:
        self._outer.append(self._compilation.scope)
        self._compilation.scope = self._scope
        return self._compilation.builder

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._compilation.scope = self._outer.pop()


class TriggerBlock(Block):
    """`with p2.on_trigger(name) as trigger:` gives the Trigger rather than `p2`."""

    __slots__ = ("_trigger",)

    def __init__(self, compilation: Compilation, scope: Scope, trigger: Trigger) -> None:
        super().__init__(compilation, scope)
        self._trigger = trigger

    def __enter__(self) -> Trigger:  # type: ignore[override]
        super().__enter__()
        return self._trigger


def no_title(directive: str, location: SourceLocation) -> PolicyError:
    return PolicyError(
        f"{directive}() needs a title, e.g. p2.{directive}(\"name\", ...)", file=location.file, line=location.line
    )


def define_role(compilation: Compilation, name: Any, function: Any, location: SourceLocation) -> None:
    def fail(message: str) -> PolicyError:
        return PolicyError(message, file=location.file, line=location.line)

    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise fail(f"role name {name!r} must be a Python identifier not starting with '_'")
    if name in BUILDER_METHODS:
        raise fail(f"role name '{name}' is a p2 method; choose another name")
    if registry.is_module(name):
        raise fail(f"role '{name}' would hide the module '{name}'; choose another name")
    previous = compilation.roles.defined.get(name)
    if previous is not None:
        raise fail(f"role '{name}' is defined twice: first at {previous.source}, again here")
    if not callable(function):
        raise fail(f"p2.role('{name}', ...) needs a function (p2, title, **options), not {type(function).__name__}")
    compilation.roles.defined[name] = DslRole(name=name, function=function, source=location)


def selects(selector: Any, facts: Any, location: SourceLocation) -> bool:
    """Whether a `p2.node` selector picks this node. A regex is matched against the whole
    hostname; a list holds hostnames, and entries with a dot are compared with the fqdn
    (asked only then: resolving it may query DNS)."""
    if isinstance(selector, bool):
        return selector
    if isinstance(selector, str):
        try:
            pattern = re.compile(selector)
        except re.error as exc:
            raise PolicyError(f"p2.node({selector!r}): not a regular expression: {exc}", file=location.file, line=location.line) from None
        return pattern.fullmatch(hostname(facts, location)) is not None
    if isinstance(selector, (list, tuple, set, frozenset)):
        if not all(isinstance(name, str) for name in selector):
            raise PolicyError("p2.node([...]) takes a list of hostnames", file=location.file, line=location.line)
        if hostname(facts, location) in selector:
            return True
        return any("." in name for name in selector) and fact(facts, "fqdn") in selector
    if callable(selector):
        return bool(selector(facts))
    raise PolicyError(
        f"p2.node takes a bool, a callable on facts, a hostname regex or a list of hostnames, "
        f"not {type(selector).__name__}",
        file=location.file, line=location.line,
    )


def hostname(facts: Any, location: SourceLocation) -> str:
    name = fact(facts, "hostname")
    if not isinstance(name, str) or not name:
        raise PolicyError("p2.node needs facts.hostname, and the facts have none", file=location.file, line=location.line)
    return name


def fact(facts: Any, name: str) -> Any:
    if isinstance(facts, dict):
        return facts.get(name)
    return getattr(facts, name, None)
