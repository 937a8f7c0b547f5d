"""The contract every module fulfils: an options model plus check / apply / watch.

A module is a plain Python file that builds one `Module` value named `MODULE`:

    MODULE = Module(name="file", options=FileOptions, check=check, apply=apply, watch=watch)

- `check(spec, context)` is read-only and returns a `Change` (what differs) or None.
  `--noop` is `check` alone, so noop and real reports share one `Change`.
- `apply(spec, change, context)` makes it so and may return output text for the report.
  On a second run `check` returns None: "unchanged". Failures raise `ResourceError`.
- `watch(spec, context)` names the paths to watch with inotify, or a poll interval, or None;
  `watching` says for `partout doc` how the module's drift is noticed, and marks
  modules without state, on which `watch=True` is a policy error.
- `resolve(spec, compile_context)` runs at compile time (render templates, read sources)
  so that a missing template fails the compile, before anything is touched.
- `actions` are what `on={"file:/x:changed": "restart"}` may name.
- `prepare(specs, context)` runs once per run before any check, with every spec of the
  module, so a module can read system state once (installed packages) instead of per resource.
- `apply_batch(items, context)` applies several ready resources of the module at once
  (one package manager call for many packages); it returns one outcome per item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from partout.modules.files.fileops import DirectorySyncs


class ModuleOptions(BaseModel):
    """Base of every module's options: unknown options are errors, specs are immutable."""

    # defer_build: a module's options schema is built when a policy first uses the module
    # (at compile time, in one thread), not when the module is imported.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    # The option that the directive's title fills: p2.file("/etc/motd") sets `path`.
    title_field: ClassVar[str] = "name"


class Change(BaseModel):
    """What `check` found different: a one-line summary, a unified diff for content, and
    module-private data that `apply` uses so it does not have to look again."""

    # defer_build: built when a run first finds a change; a run that changes nothing
    # never needs it.
    model_config = ConfigDict(frozen=True, defer_build=True)

    summary: str = Field(description="One line: what differs, e.g. 'mode 0600 -> 0644'.")
    diff: str | None = Field(None, description="Unified diff of content, if content differs.")
    done: str | None = Field(None, description="The summary once applied, when it reads differently "
                             "(a command's 'would run: make' becomes 'ran: make').")
    data: dict[str, Any] = Field(default_factory=dict, description="Private to the module.")


def reported(change: Change, *, noop: bool) -> str:
    """What the report says of a change: what would be done, or what was done."""
    return change.summary if noop or change.done is None else change.done


class Watch(NamedTuple):
    """What a resource wants to hear about: paths or directories' entries (inotify, polled
    where inotify cannot see) and/or a poll interval. `settle`: wait until the paths have been quiet this
    long before re-checking (a package manager writes its database several times per
    transaction); a module with `apply_batch` then re-checks every resource sharing
    these paths in one batch."""

    paths: tuple[Path, ...] = ()
    interval: float | None = None
    settle: float = 0.0
    # Directories any of whose entries changing is drift (a virtualenv's site-packages).
    directories: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Watching:
    """How a module's resources are watched under watch=True, shown by `partout doc`:
    `how` is "events", "polling", "events or polling" or "none"; `detail` says on what.
    `stateless`: the module has nothing to watch (a command), so `watch=True` on it is a
    policy error, and a `with p2.watch():` block leaves it out."""

    how: str
    detail: str
    stateless: bool = False


NOT_WATCHED = Watching("none", "not watched")
BY_PATH = Watching("events", "inotify on the file's directory (polled on network filesystems)")
STATELESS = Watching("none", "it has no state, it acts when applied", stateless=True)


@dataclass
class CompileContext:
    """What `resolve` may use at compile time."""

    facts: Any
    policy_dir: Path
    title: str


class DeclaredResource(Protocol):
    """What a module may read of another resource of the policy being applied (the DSL's
    catalog satisfies it; modules sit below the DSL and never import it)."""

    @property
    def id(self) -> str: ...
    @property
    def module(self) -> str: ...
    @property
    def options(self) -> ModuleOptions: ...
    @property
    def require(self) -> tuple[str, ...]: ...


class PolicyView(Protocol):
    @property
    def resources(self) -> Sequence[DeclaredResource]: ...


@dataclass
class RunContext:
    """Shared by every resource of one run. `cached` is the per-run cache through which
    modules read system state once and batch (e.g. the installed-package list)."""

    facts: Any
    state_dir: Path
    noop: bool = False
    # The custom facts folder of this node (the `fact` module writes there, facts are read
    # from there). None: the system default, /etc/partout/facts.d. Set by the engine.
    facts_d: Path | None = None
    # The catalog being applied, for the rare check that depends on other resources
    # (under --noop, a missing service that a package of the same policy would install).
    catalog: PolicyView | None = None
    # Directories to fsync once when the run ends (None: after each rename, as watch repairs do).
    directories: DirectorySyncs | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cached(self, key: str, factory: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = factory()
            return self._cache[key]

    def fresh(self) -> RunContext:
        """The same run settings with an empty cache: a repair must read the system as it
        is now, not as an earlier check cached it."""
        return RunContext(facts=self.facts, state_dir=self.state_dir, noop=self.noop)

    def forget(self, key: str) -> None:
        """Drop a cached value after a change made it stale (a package was installed)."""
        with self._lock:
            self._cache.pop(key, None)


class Outcome(NamedTuple):
    """What one item of `apply_batch` ended as: output text, or an error message."""

    output: str | None = None
    error: str | None = None


O = TypeVar("O", bound=ModuleOptions)


def _no_watch(spec: Any, context: Any) -> Watch | None:
    return None


def _unchanged(spec: Any, context: CompileContext) -> Any:
    return spec


@dataclass(frozen=True)
class Module(Generic[O]):
    name: str
    options: type[O]
    check: Callable[[O, RunContext], Change | None]
    apply: Callable[[O, Change, RunContext], str | None]
    watch: Callable[[O, RunContext], Watch | None] = _no_watch
    watching: Watching = NOT_WATCHED
    resolve: Callable[[O, CompileContext], O] = _unchanged
    actions: Mapping[str, Callable[[O, RunContext], str | None]] = field(default_factory=dict)
    # Actions that mean "check and apply again" (a command's "run"): a resource that
    # already checked and applied itself in this run does not do it a second time.
    apply_actions: frozenset[str] = frozenset()
    prepare: Callable[[Sequence[O], RunContext], None] | None = None
    apply_batch: Callable[[Sequence[tuple[O, Change]], RunContext], list[Outcome]] | None = None
    # False for modules whose resources touch shared system state (packages, commands,
    # services): they run alone, after everything declared before them. Files on
    # different paths are independent and may run concurrently.
    concurrent: bool = False
    # Shown by `partout doc`; defaults to the options model's docstring.
    summary: str = ""

    def title_of(self, spec: O) -> str:
        return str(getattr(spec, spec.title_field))
