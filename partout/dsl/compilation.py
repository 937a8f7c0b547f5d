"""The state and the work of one compile: running policy files, dispatching each directive
to its module or role, and collecting resources in declaration order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partout.dsl.catalog import Catalog, SourceLocation
from partout.dsl.declare import (
    META_OPTIONS, check_action, declare, default_action, events_of, flag, guard, ids_of, title_text,
)
from partout.dsl.graph import check_graph
from partout.dsl.locations import compile_code
from partout.dsl.roles import RoleBook
from partout.dsl.state import Entry, RoleCall, Scope, both_guards, describe_call
from partout.errors import PolicyError
from partout.modules import registry
from partout.modules.base import Module

if TYPE_CHECKING:
    from partout.dsl.builder import P2
    from partout.dsl.nodes import Inventory
    from partout.dsl.triggers import Trigger

# Deep enough for real role stacks, shallow enough to report a role that calls itself
# before Python's own recursion limit does.
MAX_ROLE_DEPTH = 50


class Compilation:
    """Everything one `compile_source` call accumulates. Not thread-safe: one per compile."""

    def __init__(self, facts: Any, policy: str, roles_dirs: Sequence[Path], inventory: Inventory | None = None,
                 triggers: Sequence[Trigger] = ()) -> None:
        from partout.dsl.builder import P2
        from partout.dsl.nodes import NoInventory

        self.facts = facts
        self.inventory: Inventory = inventory if inventory is not None else NoInventory()  # p2.nodes reads it
        self.triggers: dict[str, Trigger] = {trigger.name: trigger for trigger in triggers}  # p2.on_trigger
        self.policy = policy
        self.builder = P2(self)
        self.entries: list[Entry] = []
        self.by_id: dict[str, Entry] = {}
        # The file names under which policy and role code was compiled: frames whose
        # co_filename is one of these are "policy lines" for error locations.
        self.policy_files: set[str] = set()
        self.including: list[tuple[str, str]] = []  # (resolved path, shown name) being run
        self.included: set[str] = set()
        self.scope = Scope()
        self.roles = RoleBook(dirs=tuple(roles_dirs))
        self.directives: dict[str, Any] = {}
        self.folders: dict[str, Path] = {}

    # -- files ---------------------------------------------------------------------------

    def run_file(self, shown: str, source: str, *, via: SourceLocation | None = None) -> None:
        """Execute one policy file with `p2` and `facts` in its globals."""
        context = f" (included from {via})" if via is not None else ""
        code = compile_code(source, shown, context=context)
        self.policy_files.add(shown)
        key = str(Path(shown).resolve())
        self.including.append((key, shown))
        try:
            exec(code, {"__name__": "__p2__", "__file__": shown, "p2": self.builder, "facts": self.facts})
        finally:
            self.including.pop()

    def include(self, relative: str | Path, location: SourceLocation) -> None:
        """`p2.include`: run another file, relative to the including one, at most once per
        compile (so two files may include a shared one); a cycle is an error."""
        if not isinstance(relative, (str, Path)):
            raise PolicyError(f"p2.include takes a file path, not {type(relative).__name__}", file=location.file, line=location.line)
        target = Path(location.file).parent / relative
        shown = str(target)
        if not target.is_file():
            raise PolicyError(f"included file {shown} does not exist", file=location.file, line=location.line)
        key = str(target.resolve())
        running = [path for path, _ in self.including]
        if key in running:
            names = [name for _, name in self.including][running.index(key):]
            cycle = " -> ".join([*names, shown])
            raise PolicyError(f"include cycle: {cycle}", file=location.file, line=location.line)
        if self.scope.active:
            if key in self.included:
                return
            self.included.add(key)
        try:
            source = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read included file {shown}: {exc}", file=location.file, line=location.line) from None
        self.run_file(shown, source, via=location)

    # -- directives ----------------------------------------------------------------------

    def call(self, name: str, title: Any, options: dict[str, Any], location: SourceLocation) -> list[Entry]:
        """One directive call: one resource (or role expansion) per title."""
        titles = title if isinstance(title, (list, tuple)) else (title,)
        role = self.roles.defined.get(name)
        if role is not None or (not registry.is_module(name) and self.roles.find_file(name) is not None):
            declared: list[Entry] = []
            for one in titles:
                declared.extend(self.call_role(name, one, dict(options), location))
            return declared
        if not self.scope.active and registry.is_module(name):
            try:
                module = self.module(name, location)
            except PolicyError:
                return []  # a platform's module (powershell) may not load on other nodes
        else:
            module = self.module(name, location)
        entries = []
        for one in titles:
            entry = declare(
                name, module, one, dict(options),
                location=location, scope=self.scope, facts=self.facts, policy_dir=self.folder_of(location.file),
            )
            if entry is not None:
                self.add(entry)
                entries.append(entry)
        return entries

    def module(self, name: str, location: SourceLocation) -> Module[Any]:
        if not registry.is_module(name):
            known = [*registry.names(), *self.roles.names(), "node", "watch", "include", "role", "on"]
            message = f"unknown directive '{name}'"
            import difflib  # only for a policy error: not part of every compile's start-up

            close = difflib.get_close_matches(name, known, n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
            raise PolicyError(message + self.scope.context, file=location.file, line=location.line)
        try:
            return registry.get(name)
        except Exception as exc:  # an import error in a module must still name the policy line
            raise PolicyError(
                f"directive '{name}' cannot be loaded: {type(exc).__name__}: {exc}", file=location.file, line=location.line
            ) from exc

    def folder_of(self, filename: str) -> Path:
        folder = self.folders.get(filename)
        if folder is None:
            folder = self.folders[filename] = Path(filename).parent
        return folder

    def add(self, entry: Entry) -> None:
        previous = self.by_id.get(entry.id)
        if previous is not None:
            raise entry.error(f"{entry.id} is declared twice: first at {previous.source}, again here")
        self.by_id[entry.id] = entry
        self.entries.append(entry)

    def call_role(self, name: str, title: Any, options: dict[str, Any], location: SourceLocation) -> list[Entry]:
        """Expand a role: its resources inherit the call's meta-options and blocks."""
        label = describe_call(name, title)
        outer = self.scope

        def fail(message: str) -> PolicyError:
            return PolicyError(f"{label}: {message}{outer.context}", file=location.file, line=location.line)

        title = title_text(title, fail)
        meta = {key: options.pop(key) for key in META_OPTIONS if key in options}
        if not outer.active:
            # Left out on this node: a role's body may depend on facts of the nodes it is for.
            return []
        if len(outer.role_calls) >= MAX_ROLE_DEPTH:
            raise fail(f"roles nested more than {MAX_ROLE_DEPTH} deep; does role '{name}' call itself?")
        self.scope = replace(
            outer,
            role_calls=(*outer.role_calls, RoleCall(name=name, title=title, source=location)),
            require=(*outer.require, *ids_of(meta.get("require"), "require", fail)),
            before=(*outer.before, *ids_of(meta.get("before"), "before", fail)),
            on=(*outer.on, *events_of(meta.get("on"), fail)),
            onlyif=both_guards(outer.onlyif, guard(meta.get("onlyif"), "onlyif", self.facts, fail), joiner="&&"),
            unless=both_guards(outer.unless, guard(meta.get("unless"), "unless", self.facts, fail), joiner="||"),
            watch=flag(meta.get("watch", outer.watch), "watch", fail),
            hidden=flag(meta.get("hidden", False), "hidden", fail) or outer.hidden,
        )
        start = len(self.entries)
        try:
            role = self.roles.defined.get(name)
            if role is not None:
                role.function(self.builder, title, **options)
            else:
                path = self.roles.find_file(name)
                assert path is not None  # call() looked it up
                code = self.roles.code(path, location)
                self.policy_files.add(str(path))
                exec(code, {
                    "__name__": "__p2_role__", "__file__": str(path),
                    "p2": self.builder, "facts": self.facts, "title": title, "options": options,
                })
        finally:
            self.scope = outer
        return self.entries[start:]

    def handle(self, entries: Sequence[Entry], event: str, action: str | None, location: SourceLocation) -> None:
        """`p2.on(event, p2.command(...))`: make already-declared resources handlers of event."""
        for entry in entries:
            module = registry.get(entry.module)
            chosen = action or default_action(module)
            check_action(module, chosen, f"p2.on({event!r}): {entry.label()}", location, self.scope.context)
            entry.on[event] = chosen
            entry.refresh_only = True

    # -- result --------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        check_graph(self.entries, self.by_id)
        return Catalog.model_construct(policy=self.policy, resources=tuple(entry.freeze() for entry in self.entries))
