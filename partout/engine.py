"""The engine facade: run a compiled Catalog with resource actors, and keep repairing
drift afterwards. `partout apply` and the agent both drive exactly this.

    engine = Engine(state_dir, facts, noop=False)
    report = engine.run(catalog)                 # one run, Report in catalog order
    counts = engine.watch(catalog, on_report)    # repair watched resources from now on
    engine.stop()                                # stop watching, stop every actor
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pykka

from partout.actors.batch_watch import BatchWatchActor, StartBatch
from partout.actors.coordinator import RunCoordinator, StartRun
from partout.actors.flap import RepairLimit
from partout.actors.messages import Finished, Run, StartWatching, StopWatching
from partout.actors.plan import make_plan
from partout.actors.pool import WorkerPool, shared_pool, stop_all
from partout.actors.resource import ResourceActor
from partout.dsl.catalog import Catalog, Resource
from partout.errors import PartoutError
from partout.modules import registry
from partout.modules.base import Module, RunContext, Watch
from partout.modules.files.fileops import DirectorySyncs
from partout.report import Report, ResourceResult

log = logging.getLogger(__name__)

RUN_TIMEOUT = 3600.0
WATCH_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class WatchCount:
    """What `watch` started: resources heard by events (inotify) and by polling."""

    events: int = 0
    polling: int = 0

    @property
    def total(self) -> int:
        return self.events + self.polling

    def describe(self) -> str:
        noun = "resource" if self.total == 1 else "resources"
        return f"watching {self.total} {noun} ({self.events} by events, {self.polling} by polling)"


class Engine:
    """Applies catalogs on this machine. Not thread-safe: drive it from one thread."""

    def __init__(self, state_dir: Path, facts: object, *, noop: bool = False,
                 facts_d: Path | None = None, pool: WorkerPool | None = None,
                 repair_limit: RepairLimit | None = None, watcher_options: dict[str, Any] | None = None) -> None:
        """`facts_d`: this node's custom facts folder, where the `fact` module writes; pass
        the one facts were gathered from. None: the node's default ($PARTOUT_FACTS_D, else
        /etc/partout/facts.d), the same folder `partout.facts.gather()` reads by default."""
        from partout.facts.custom import default_facts_d

        self.state_dir = state_dir
        self.facts = facts
        self.noop = noop
        self.facts_d = facts_d if facts_d is not None else default_facts_d()
        self.repair_limit = repair_limit
        self._watcher_options = watcher_options or {}
        self._pool = pool if pool is not None else shared_pool()
        # resource id -> (the resource it was started for, its actor)
        self._actors: dict[str, tuple[Resource, pykka.ActorRef[Any]]] = {}
        self._watcher: pykka.ActorRef[Any] | None = None
        self._watching: list[pykka.ActorRef[Any]] = []
        self._batches: list[pykka.ActorRef[Any]] = []

    def context(self, catalog: Catalog | None = None) -> RunContext:
        return RunContext(
            facts=self.facts, state_dir=self.state_dir, noop=self.noop, facts_d=self.facts_d, catalog=catalog
        )

    def run(self, catalog: Catalog, *, trigger: str = "run") -> Report:
        """Apply (or, with noop, check) every resource; returns when all are done."""
        modules = _modules(catalog)
        plan = make_plan(catalog, modules)
        refs = self._actors_for(catalog, modules)
        done = threading.Event()
        reports: list[Report] = []

        def on_done(report: Report) -> None:
            reports.append(report)
            done.set()

        context = self.context(catalog)
        context.directories = directories = DirectorySyncs()
        coordinator = RunCoordinator.start(catalog, plan, modules, refs, context,
                                           trigger=trigger, pool=self._pool)
        try:
            coordinator.tell(StartRun(on_done))
            if not done.wait(RUN_TIMEOUT):
                raise PartoutError(f"run of {catalog.policy} did not finish within {RUN_TIMEOUT:.0f} s")
        finally:
            coordinator.stop(block=False)
            # before the run reports anything: what it says it wrote is on disk
            directories.sync()
        return reports[0]

    def watch(self, catalog: Catalog, on_report: Callable[[Report], None]) -> WatchCount:
        """Repair the catalog's watched resources (watch=True) whenever they drift, from now
        until `stop()`. Each repair's result arrives as a one-result Report (trigger
        "watch") on `on_report`, called from a worker thread. Resources of stateless
        modules (commands) are left out. Returns how many resources are watched, and how."""
        from partout.actors.watcher import Register, WatcherActor

        modules = _modules(catalog)
        refs = self._actors_for(catalog, modules)
        self._stop_watching()
        if self._watcher is None:
            self._watcher = WatcherActor.start(pool=self._pool, **self._watcher_options)
        context = self.context(catalog)
        hostname = str(getattr(self.facts, "hostname", "") or "")

        listeners = _listeners(catalog)

        def publish(results: list[ResourceResult], started: float) -> None:
            report = Report.model_construct(policy=catalog.policy, hostname=hostname, noop=self.noop,
                                            started_at=datetime.now(timezone.utc),
                                            duration=time.perf_counter() - started, results=results, trigger="watch")
            try:
                on_report(report)
            except Exception:
                log.exception("report callback failed", extra={"resource": results[0].id})

        def deliver(result: ResourceResult) -> None:
            # A repaired resource fires its event like in a run: a repaired nginx.conf
            # restarts nginx. Listeners answer by callback; no pool thread waits.
            started = time.perf_counter() - result.duration
            event = f"{result.id}:{result.status.value}"
            targets = [(rid, action) for rid, action in listeners.get(event, ())]
            if not targets:
                publish([result], started)
                return
            collected: dict[str, ResourceResult] = {}
            lock = threading.Lock()

            def answered(rid: str, finished: Finished) -> None:
                with lock:
                    collected[rid] = finished.result
                    if len(collected) < len(targets):
                        return
                publish([result, *(collected[target] for target, _ in targets)], started)

            for rid, action in targets:
                refs[rid].tell(Run(context, functools.partial(answered, rid), ((event, action),)))

        # ask, not tell: when watch() returns, drift is already being heard.
        pending = []
        entries: list[tuple[pykka.ActorRef[Any], tuple[Path, ...]]] = []
        directories: list[tuple[pykka.ActorRef[Any], tuple[Path, ...]]] = []
        events = polling = 0
        batches: dict[tuple[str, Watch], list[Resource]] = {}
        for resource in catalog.resources:
            module = modules[resource.module]
            if not resource.watch or module.watching.stateless:
                continue
            wanted = module.watch(resource.options, context)
            if wanted is None:
                continue
            heard = wanted.paths or wanted.directories
            events, polling = (events + 1, polling) if heard else (events, polling + 1)
            if module.apply_batch is not None and wanted.settle > 0:
                batches.setdefault((resource.module, wanted), []).append(resource)
                continue
            ref = refs[resource.id]
            pending.append(ref.ask(StartWatching(context, deliver, self.repair_limit), block=False))
            self._watching.append(ref)
            entries.append((ref, wanted.paths))
            directories.append((ref, wanted.directories))
        for (_, wanted), members in batches.items():
            batch = BatchWatchActor.start(self._batch_starter(catalog, members, modules, refs), deliver,
                                          settle=wanted.settle, interval=wanted.interval,
                                          limit=self.repair_limit, pool=self._pool)
            self._watching.append(batch)
            self._batches.append(batch)
            entries.append((batch, wanted.paths))
            directories.append((batch, wanted.directories))
        pending.append(self._watcher.ask(Register(tuple(entries), tuple(directories), replace=True), block=False))
        for future in pending:
            future.get(timeout=WATCH_START_TIMEOUT)
        return WatchCount(events=events, polling=polling)

    def _batch_starter(self, catalog: Catalog, members: list[Resource], modules: dict[str, Module[Any]],
                       refs: dict[str, pykka.ActorRef[Any]]) -> StartBatch:
        """Start one small run of `members` alone (their ordering edges belong to the whole
        catalog's run), so their drift is checked together and applied in one batch."""
        alone = tuple(member.model_copy(update={"require": (), "before": (), "on": {}}) for member in members)
        small = Catalog.model_construct(policy=catalog.policy, resources=alone)
        plan = make_plan(small, modules)
        actors = {member.id: refs[member.id] for member in members}
        pool, context = self._pool, self.context()

        def start(on_done: Callable[[Report], None]) -> None:
            coordinator = RunCoordinator.start(small, plan, modules, actors, context.fresh(), trigger="watch",
                                               pool=pool)

            def finished(report: Report) -> None:
                coordinator.stop(block=False)
                on_done(report)

            coordinator.tell(StartRun(finished))

        return start

    def stop(self) -> None:
        """Stop watching and stop every actor this engine started."""
        self._stop_watching()
        refs = [ref for _, ref in self._actors.values()]
        if self._watcher is not None:
            refs.append(self._watcher)
            self._watcher = None
        self._actors = {}
        stop_all(refs)

    def _stop_watching(self) -> None:
        for ref in self._watching:
            if ref.is_alive():
                ref.tell(StopWatching())
        self._watching = []
        stop_all(self._batches)
        self._batches = []

    def _actors_for(self, catalog: Catalog, modules: dict[str, Module[Any]]) -> dict[str, pykka.ActorRef[Any]]:
        """Reuse the actor of each unchanged resource; start new ones, stop the rest."""
        previous = self._actors
        current: dict[str, tuple[Resource, pykka.ActorRef[Any]]] = {}
        for resource in catalog.resources:
            kept = previous.pop(resource.id, None)
            if kept is not None and kept[0] == resource and kept[1].is_alive():
                current[resource.id] = kept
                continue
            if kept is not None:
                previous[resource.id] = kept
            ref = ResourceActor.start(resource, modules[resource.module], pool=self._pool)
            current[resource.id] = (resource, ref)
        stop_all([ref for _, ref in previous.values()])
        self._actors = current
        return {rid: ref for rid, (_, ref) in current.items()}


def _listeners(catalog: Catalog) -> dict[str, list[tuple[str, str]]]:
    """event -> (listening resource id, action), in catalog order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for resource in catalog.resources:
        for event, action in resource.on.items():
            found.setdefault(event, []).append((resource.id, action))
    return found


def _modules(catalog: Catalog) -> dict[str, Module[Any]]:
    return {name: registry.get(name) for name in {resource.module for resource in catalog.resources}}
