"""`RunCoordinator`: walks a catalog's plan, dispatches each resource to its actor when
what it waits for is done, fires events, skips the dependents of failures, and
assembles the Report in catalog order whatever order the resources finished in."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

import pykka

from partout.actors.messages import Check, Finished, Run
from partout.actors.plan import Plan
from partout.actors.pool import PooledActor, WorkerPool
from partout.dsl.catalog import Catalog, Resource
from partout.modules.base import Change, Module, RunContext, reported
from partout.report import Report, ResourceResult, Status

log = logging.getLogger(__name__)


class StartRun(NamedTuple):
    """Begin the run; `on_done` receives the Report (called on a pool thread)."""

    on_done: Callable[[Report], None]


class ResourceDone(NamedTuple):
    resource_id: str
    finished: Finished


class RunCoordinator(PooledActor):
    def __init__(self, catalog: Catalog, plan: Plan, modules: dict[str, Module[Any]],
                 actors: dict[str, pykka.ActorRef[Any]], context: RunContext, *,
                 trigger: str = "run", pool: WorkerPool | None = None) -> None:
        super().__init__(pool=pool)
        self._catalog = catalog
        self._plan = plan
        self._modules = modules
        self._actors = actors
        self._context = context
        self._trigger = trigger
        self._resources = catalog.by_id()
        self._dependents = plan.dependents()
        self._remaining = {rid: len(waits) for rid, waits in plan.waits.items()}
        self._results: dict[str, ResourceResult] = {}
        self._broken: set[str] = set()  # failed, or skipped because something failed
        self._fired: set[str] = set()
        self._checked: dict[str, Finished] = {}
        self._prepare_errors: dict[str, str] = {}
        self._on_done: Callable[[Report], None] | None = None
        self._started_at = datetime.now(timezone.utc)
        self._clock_start = 0.0

    def on_receive(self, message: Any) -> Any:
        match message:
            case StartRun(on_done=on_done):
                self._start(on_done)
            case ResourceDone(resource_id=rid, finished=finished):
                self._complete([(rid, finished.result)])
            case _Checked(resource_id=rid, finished=finished):
                self._receive_checked(rid, finished)
            case _:
                return super().on_receive(message)
        return None

    def _start(self, on_done: Callable[[Report], None]) -> None:
        self._on_done = on_done
        self._clock_start = time.perf_counter()
        self._started_at = datetime.now(timezone.utc)
        self._prepare()
        self._dispatch_all([rid for rid in self._plan.order if self._remaining[rid] == 0])

    def _prepare(self) -> None:
        """Let each module read system state once for all its resources."""
        specs: dict[str, list[Any]] = {}
        for resource in self._catalog.resources:
            specs.setdefault(resource.module, []).append(resource.options)
        for name, module_specs in specs.items():
            module = self._modules[name]
            if module.prepare is None:
                continue
            try:
                module.prepare(module_specs, self._context)
            except Exception as exc:
                log.error("module prepare failed", extra={"module": name}, exc_info=True)
                self._prepare_errors[name] = f"{name}: preparing failed: {type(exc).__name__}: {exc}"

    def _dispatch_all(self, ready: Sequence[str]) -> None:
        work = list(ready)
        while work:
            rid = work.pop(0)
            skipped = self._skip_reason(rid)
            if skipped is not None:
                work.extend(self._record(rid, skipped))
                continue
            self._dispatch(rid)
        if len(self._results) == len(self._plan.order):
            self._finish()

    def _skip_reason(self, rid: str) -> ResourceResult | None:
        resource = self._resources[rid]
        error = self._prepare_errors.get(resource.module)
        if error is not None:
            return ResourceResult.model_construct(id=rid, status=Status.FAILED, summary=error, diff=None, output=None,
                                                  duration=0.0, hidden=resource.hidden)
        for dependency in sorted(self._plan.hard[rid]):
            if dependency in self._broken:
                why = "failed" if self._results[dependency].status is Status.FAILED else "was skipped"
                return ResourceResult.model_construct(
                    id=rid, status=Status.SKIPPED, summary=f"requires {dependency} which {why}",
                    diff=None, output=None, duration=0.0, hidden=resource.hidden)
        return None

    def _dispatch(self, rid: str) -> None:
        resource = self._resources[rid]
        actor = self._actors[rid]
        coordinator = self.actor_ref

        def reply(finished: Finished) -> None:
            coordinator.tell(ResourceDone(rid, finished))

        group = self._plan.groups.get(rid)
        if group is not None:
            actor.tell(Check(self._context, lambda finished: coordinator.tell(_Checked(rid, finished))))
            return
        actor.tell(Run(self._context, reply, self._triggers(resource)))

    def _triggers(self, resource: Resource) -> tuple[tuple[str, str], ...]:
        return tuple((event, action) for event, action in resource.on.items() if event in self._fired)

    def _complete(self, done: list[tuple[str, ResourceResult]]) -> None:
        ready: list[str] = []
        for rid, result in done:
            ready.extend(self._record(rid, result))
        self._dispatch_all(ready)

    def _record(self, rid: str, result: ResourceResult) -> list[str]:
        """Store a result, fire its event, and return the resources it made ready."""
        self._results[rid] = result
        if result.status is Status.FAILED:
            self._broken.add(rid)
        elif result.status is Status.SKIPPED and result.summary.startswith("requires "):
            self._broken.add(rid)
        if result.status is not Status.SKIPPED:
            self._fired.add(f"{rid}:{result.status.value}")
        ready = []
        for later in self._dependents[rid]:
            self._remaining[later] -= 1
            if self._remaining[later] == 0:
                ready.append(later)
        return ready

    def _receive_checked(self, rid: str, finished: Finished) -> None:
        self._checked[rid] = finished
        group = self._plan.groups[rid]
        if not all(member in self._checked for member in group):
            return
        pending = [(member, self._checked[member]) for member in group]
        to_apply = [(member, found) for member, found in pending if found.change is not None]
        done: list[tuple[str, ResourceResult]] = [
            (member, found.result) for member, found in pending if found.change is None
        ]
        if to_apply and not self._context.noop:
            done.extend(self._apply_group(to_apply))
        else:
            done.extend((member, found.result) for member, found in to_apply)
        done.sort(key=lambda item: group.index(item[0]))
        self._complete(done)

    def _apply_group(self, items: list[tuple[str, Finished]]) -> list[tuple[str, ResourceResult]]:
        module = self._modules[self._resources[items[0][0]].module]
        assert module.apply_batch is not None
        specs: list[tuple[Any, Change]] = []
        for member, found in items:
            assert found.change is not None
            specs.append((self._resources[member].options, found.change))
        started = time.perf_counter()
        try:
            outcomes = module.apply_batch(specs, self._context)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            log.error("batch apply failed", extra={"module": module.name}, exc_info=True)
            return [(member, found.result.model_copy(update={"status": Status.FAILED, "summary": message}))
                    for member, found in items]
        share = (time.perf_counter() - started) / len(items)
        results = []
        for (member, found), outcome in zip(items, outcomes, strict=True):
            assert found.change is not None
            update: dict[str, Any] = {"duration": found.result.duration + share, "output": outcome.output,
                                      "summary": reported(found.change, noop=False)}
            if outcome.error is not None:
                update.update(status=Status.FAILED, summary=outcome.error)
            results.append((member, found.result.model_copy(update=update)))
        return results

    def _finish(self) -> None:
        results = [self._results[resource.id] for resource in self._catalog.resources]
        facts = self._context.facts
        report = Report.model_construct(  # trusted values: see partout.report
            policy=self._catalog.policy, hostname=str(getattr(facts, "hostname", "") or ""),
            noop=self._context.noop, started_at=self._started_at,
            duration=time.perf_counter() - self._clock_start, results=results, trigger=self._trigger,
        )
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(report)


class _Checked(NamedTuple):
    resource_id: str
    finished: Finished

