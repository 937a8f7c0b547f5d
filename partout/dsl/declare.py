"""One module directive call -> one validated `Entry`: meta-options split from module
options, options validated by the module's pydantic model once, resolved at compile time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from partout.dsl.catalog import APPLY_ACTION, SourceLocation, resource_id
from partout.dsl.dependencies import split_event
from partout.dsl.state import Entry, Guard, Scope, both_guards, describe_call
from partout.errors import PartoutError, PolicyError
from partout.modules.base import CompileContext, Module, ModuleOptions

# Every directive accepts these; they shape ordering, events and guards, not the module.
ORDERING_OPTIONS = ("require", "before", "on")
GUARD_OPTIONS = ("onlyif", "unless", "watch", "hidden")
META_OPTIONS = ORDERING_OPTIONS + GUARD_OPTIONS
_META_SET = frozenset(META_OPTIONS)


class Declared:
    """Resources returned by a directive call; `require=`, `before=` and `p2.on(event, ...)`
    accept them in place of ids."""

    def declared(self) -> list[Entry]:
        raise NotImplementedError


def default_action(module: Module[Any]) -> str:
    """What a `p2.on(event)` handler does when the event fires: the module's first action
    (e.g. a service's "restart"), or a plain check-and-apply when it declares none."""
    for action in module.actions:
        return action
    return APPLY_ACTION


def check_action(module: Module[Any], action: str, label: str, location: SourceLocation, context: str) -> None:
    if action == APPLY_ACTION or action in module.actions:
        return
    known = [APPLY_ACTION, *module.actions]
    raise PolicyError(
        f"{label}: unknown action {action!r} for module '{module.name}'; "
        f"known actions: {', '.join(repr(name) for name in known)}{context}",
        file=location.file,
        line=location.line,
    )


def title_text(title: Any, fail: Callable[[str], PolicyError]) -> str:
    """The title of one directive or role call as text (a Path gives its string); the
    error `fail` makes for anything else (a list is split into calls before this)."""
    if isinstance(title, Path):
        return str(title)
    if not isinstance(title, str):
        raise fail(f"the title must be a string or a list of strings, not {type(title).__name__}")
    return title


def declare(
    name: str,
    module: Module[Any],
    title: Any,
    options: dict[str, Any],
    *,
    location: SourceLocation,
    scope: Scope,
    facts: Any,
    policy_dir: Path,
) -> Entry | None:
    """Validate one resource; None when it sits in a block that does not select this node
    (its options are still checked, so a typo fails on every node). `policy_dir` is the
    folder of the file declaring it: `source=` and `template=` are relative to it."""
    context = scope.context

    def fail(message: str) -> PolicyError:
        return PolicyError(f"{describe_call(name, title)}: {message}{context}", file=location.file, line=location.line)

    title = title_text(title, fail)
    model = module.options
    fields = model.model_fields
    meta: dict[str, Any] = {}
    if not _META_SET.isdisjoint(options):
        for key in META_OPTIONS:
            # A module that declares a guard option itself (command's onlyif) receives it.
            if key in options and (key in ORDERING_OPTIONS or key not in fields or callable(options[key])):
                meta[key] = options.pop(key)
    title_field = model.title_field
    if title_field in options:
        raise fail(f"the title already sets option '{title_field}'; do not pass it again")
    try:
        spec: ModuleOptions = model.model_validate({title_field: title, **options})
    except ValidationError as exc:
        from partout.modules.validation import describe_validation  # error path only (start-up)

        raise fail(describe_validation(exc, [*fields, *META_OPTIONS])) from None
    if not scope.active:
        return None

    entry = Entry(
        id="",
        module=name,
        title=title,
        options=spec,
        source=location,
        context=context,
        require=[*scope.require, *ids_of(meta.get("require"), "require", fail)],
        before=[*scope.before, *ids_of(meta.get("before"), "before", fail)],
        watch=watch_flag(module, title, meta, scope, location, fail),
        hidden=flag(meta.get("hidden", False), "hidden", fail) or scope.hidden,
        onlyif=both_guards(scope.onlyif, guard(meta.get("onlyif"), "onlyif", facts, fail), joiner="&&"),
        unless=both_guards(scope.unless, guard(meta.get("unless"), "unless", facts, fail), joiner="||"),
    )
    if scope.on or scope.events or "on" in meta:
        label = entry.label()
        for event, action in [*scope.on, *events_of(meta.get("on"), fail)]:
            check_action(module, action, label, location, context)
            entry.on[event] = action
        for event, chosen in scope.events:
            action = chosen or default_action(module)
            check_action(module, action, label, location, context)
            entry.on[event] = action
            entry.refresh_only = True

    try:
        resolved = module.resolve(spec, CompileContext(facts=facts, policy_dir=policy_dir, title=title))
    except PartoutError as exc:
        text = str(exc)  # a TemplateError names the template file and line: keep that
        if text.startswith(f"{name}("):  # the module named the resource itself
            raise PolicyError(f"{text}{context}", file=location.file, line=location.line) from exc
        raise fail(text) from exc
    except Exception as exc:  # a module's own bug or a library error: still the policy's line
        raise fail(f"{type(exc).__name__}: {exc}") from exc
    entry.options = resolved
    entry.title = module.title_of(spec)
    entry.id = resource_id(name, entry.title)
    return entry


def ids_of(value: Any, option: str, fail: Callable[[str], PolicyError]) -> list[str]:
    """`require=` / `before=`: an id "module:title", resources a directive returned, or a list."""
    if value is None:
        return []
    items: Iterable[Any] = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    ids: list[str] = []
    for item in items:
        if isinstance(item, str):
            if ":" not in item.strip(":"):
                raise fail(f"{option}={item!r} must be a resource id 'module:title', e.g. 'file:/etc/motd'")
            ids.append(item)
        elif isinstance(item, Declared):
            ids.extend(entry.id for entry in item.declared())
        else:
            raise fail(f"{option}= takes resource ids 'module:title', not {type(item).__name__}")
    return ids


def events_of(value: Any, fail: Callable[[str], PolicyError]) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise fail("on= takes a mapping {'module:title:changed': 'action'}")
    events = []
    for event, action in value.items():
        if not isinstance(event, str) or not isinstance(action, str):
            raise fail("on= takes a mapping of event strings to action names")
        try:
            split_event(event)
        except ValueError as exc:
            raise fail(str(exc)) from None
        events.append((event, action))
    return events


def guard(value: Any, option: str, facts: Any, fail: Callable[[str], PolicyError]) -> Guard:
    """A shell command stays a string for the run; a callable is decided now, on the facts."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if callable(value):
        return bool(value(facts))
    raise fail(f"{option}= takes a shell command or a callable on facts, not {type(value).__name__}")


def watch_flag(module: Module[Any], title: str, meta: Mapping[str, Any], scope: Scope,
               location: SourceLocation, fail: Callable[[str], PolicyError]) -> bool:
    """watch= of one resource: its own, else its block's. A module without state (a
    command) cannot be watched: asking for it on the resource is an error, while a
    `with p2.watch():` block (or a watched role) simply leaves it out."""
    if "watch" not in meta:
        return scope.watch and not module.watching.stateless
    wanted = flag(meta["watch"], "watch", fail)
    if wanted and module.watching.stateless:
        raise PolicyError(f"{module.name}:{title} has no state to watch; use creates=/unless= and a schedule"
                          f"{scope.context}", file=location.file, line=location.line)
    return wanted


def flag(value: Any, option: str, fail: Callable[[str], PolicyError]) -> bool:
    if not isinstance(value, bool):
        raise fail(f"{option}= takes True or False, not {value!r}")
    return value
