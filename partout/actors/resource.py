"""`ResourceActor`: one per resource of the catalog, on the shared worker pool.

It runs the guards, `check`, and unless noop `apply`, then the actions of the events
that fired (`on={"file:/x:changed": "restart"}`), and answers with a `ResourceResult`.
While watching it repairs drift: the first event is repaired at once (latency), and
the events that follow within `DEBOUNCE` seconds, including those caused by its own
write, are folded into one trailing check, which finds nothing to do after our own
write, so a repair never feeds itself. Each repair reads the system afresh (a new
RunContext cache) and passes the flap gate (partout.actors.flap): a resource that
something keeps changing is repaired at a bounded, then decreasing, rate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pykka import ActorDeadError

from partout.actors.flap import RepairGate
from partout.actors.guards import guard_refusal
from partout.actors.messages import (
    Apply, Check, DebounceElapsed, Finished, PathChanged, PollDue, Run, StartWatching, StopWatching,
)
from partout.actors.pool import PooledActor, WorkerPool
from partout.actors.redact import redact, secret_values
from partout.dsl.catalog import Resource
from partout.errors import ResourceError
from partout.modules.base import Change, Module, RunContext, reported
from partout.report import ResourceResult, Status

log = logging.getLogger(__name__)

DEBOUNCE = 0.010
MAX_SETTLE_FACTOR = 20
# Repairs of non-concurrent modules (accounts, services) touch shared system state and
# their tools lock it: one at a time, process-wide.
EXCLUSIVE_REPAIRS = threading.Lock()
# Actions that mean "do the normal check and apply" for a refresh-only resource
# (p2.on(event, p2.command(...))) whose module defines no action of that name.
SYNC_ACTIONS = frozenset({"run", "apply", "sync"})


class ResourceActor(PooledActor):
    def __init__(self, resource: Resource, module: Module[Any], *, pool: WorkerPool | None = None) -> None:
        super().__init__(pool=pool)
        self.resource = resource
        self._module = module
        self._secrets = secret_values(resource.options)
        self._watch_context: RunContext | None = None
        self._on_result: Callable[[ResourceResult], None] | None = None
        self._gate: RepairGate | None = None
        self._quiet_until = 0.0
        self._dirty = False
        self._window_open = False
        self._last_failure: str | None = None
        self._settle = 0.0
        self._first_heard: float | None = None
        self._generation = 0
        self._session = 0

    def on_receive(self, message: Any) -> Any:
        match message:
            case Run(context=context, reply=reply, triggers=triggers):
                reply(Finished(self._run(context, triggers)))
            case Check(context=context, reply=reply):
                reply(self._check_only(context))
            case Apply(context=context, change=change, reply=reply):
                reply(Finished(self._apply_only(context, change)))
            case PathChanged() | PollDue():
                self._on_drift(message)
            case DebounceElapsed(generation=generation):
                self._on_window_closed(generation)
            case StartWatching(context=context, on_result=on_result, limit=limit):
                self._watch_context, self._on_result = context, on_result
                self._gate = RepairGate(limit)
                watch = self._module.watch(self.resource.options, context)
                self._settle = watch.settle if watch is not None else 0.0
                self._session += 1
                self._schedule_poll()
            case StopWatching():
                self._watch_context = self._on_result = self._gate = None
                self._generation += 1
                self._session += 1
                self._window_open = self._dirty = False
            case _:
                return super().on_receive(message)
        return None

    # -- one run --------------------------------------------------------------------

    def _run(self, context: RunContext, triggers: tuple[tuple[str, str], ...]) -> ResourceResult:
        started = time.perf_counter()
        if self.resource.refresh_only and not triggers:
            return self._result(Status.OK, "not triggered", started)
        try:
            refusal = guard_refusal(self.resource)
            if refusal is not None:
                return self._result(Status.SKIPPED, refusal, started)
            change: Change | None = None
            output: str | None = None
            # A resource that is not refresh-only checks and applies itself on every run;
            # an event's "apply"-like action then has nothing left to do (at most once per run).
            applied_itself = not self.resource.refresh_only
            if applied_itself:
                change = self._module.check(self.resource.options, context)
                if change is not None and not context.noop:
                    output = self._module.apply(self.resource.options, change, context)
            summaries = [reported(change, noop=context.noop)] if change is not None else []
            outputs = [output] if output else []
            for action in _distinct_actions(triggers):
                events = ", ".join(event for event, name in triggers if name == action)
                if applied_itself and self._applies(action):
                    if summaries:
                        summaries[0] += f" (on {events})"
                    continue
                summary, action_output, action_change = self._act(action, events, context)
                if summary is None:
                    continue
                summaries.append(summary)
                outputs.extend([action_output] if action_output else [])
                change = change or action_change
            if not summaries:
                return self._result(Status.OK, "", started)
            return self._result(Status.CHANGED, "; ".join(summaries), started,
                                diff=change.diff if change is not None else None,
                                output="\n".join(outputs) or None)
        except Exception as exc:
            return self._failure(exc, started)

    def _applies(self, action: str) -> bool:
        """Whether an action means "check and apply" rather than a module action of its own."""
        return action in self._module.apply_actions or (action in SYNC_ACTIONS and action not in self._module.actions)

    def _act(self, action: str, events: str, context: RunContext) -> tuple[str | None, str | None, Change | None]:
        """Run one action named by `on=`; returns summary (None: nothing to do), output and any change."""
        if self._applies(action):
            change = self._module.check(self.resource.options, context)
            if change is None:
                return None, None, None
            output = None if context.noop else self._module.apply(self.resource.options, change, context)
            return f"{reported(change, noop=context.noop)} (on {events})", output, change
        if context.noop:
            return f"would {action} (on {events})", None, None
        output = self._module.actions[action](self.resource.options, context)
        return f"{action} (on {events})", output, None

    def _check_only(self, context: RunContext) -> Finished:
        started = time.perf_counter()
        try:
            refusal = guard_refusal(self.resource)
            if refusal is not None:
                return Finished(self._result(Status.SKIPPED, refusal, started))
            change = self._module.check(self.resource.options, context)
        except Exception as exc:
            return Finished(self._failure(exc, started))
        if change is None:
            return Finished(self._result(Status.OK, "", started))
        return Finished(self._result(Status.CHANGED, reported(change, noop=True), started, diff=change.diff), change)

    def _apply_only(self, context: RunContext, change: Change) -> ResourceResult:
        started = time.perf_counter()
        try:
            output = None if context.noop else self._module.apply(self.resource.options, change, context)
        except Exception as exc:
            return self._failure(exc, started)
        return self._result(Status.CHANGED, reported(change, noop=context.noop), started, diff=change.diff,
                            output=output)

    def _result(self, status: Status, summary: str, started: float, *, diff: str | None = None,
                output: str | None = None) -> ResourceResult:
        return ResourceResult.model_construct(  # trusted values: see partout.report
            id=self.resource.id, status=status,
            summary=redact(summary, self._secrets) or "",
            diff=redact(diff, self._secrets), output=redact(output, self._secrets),
            duration=time.perf_counter() - started, hidden=self.resource.hidden,
        )

    def _failure(self, exc: Exception, started: float) -> ResourceResult:
        if isinstance(exc, ResourceError):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
            log.error("resource raised an unexpected exception",
                      extra={"resource": self.resource.id, "error": redact(message, self._secrets)},
                      exc_info=not self._secrets)
        return self._result(Status.FAILED, message, started)

    # -- drift repair -----------------------------------------------------------------

    def _on_drift(self, message: PathChanged | PollDue) -> None:
        if self._watch_context is None or self._gate is None:
            return
        if isinstance(message, PollDue):
            if message.session != self._session:
                return
            self._schedule_poll()
        self._gate.heard()
        now = time.monotonic()
        if self._settle > 0 and isinstance(message, PathChanged):
            # Wait for the writer to finish (the shadow tools write four files), at most
            # MAX_SETTLE_FACTOR windows while it keeps writing.
            self._dirty = True
            self._first_heard = self._first_heard if self._first_heard is not None else now
            settle = min(self._settle, max(0.0, self._first_heard + self._settle * MAX_SETTLE_FACTOR - now))
            self._open_window(max(settle, self._quiet_until - now, self._gate.wait()))
            return
        if self._window_open:
            self._dirty = True
            return
        delay = max(self._quiet_until - now, self._gate.wait())
        if delay > 0:
            self._dirty = True
            self._open_window(delay)
            return
        self._repair()

    def _on_window_closed(self, generation: int) -> None:
        if generation != self._generation or self._watch_context is None or self._gate is None:
            return
        self._window_open = False
        if not self._dirty:
            return
        delay = self._gate.wait()
        if delay > 0:
            self._open_window(delay)
            return
        self._repair()

    def _repair(self) -> None:
        context, on_result, gate = self._watch_context, self._on_result, self._gate
        assert context is not None and on_result is not None and gate is not None
        self._dirty = False
        self._first_heard = None
        if self._module.concurrent:
            result = self._run(context.fresh(), ())
        else:
            with EXCLUSIVE_REPAIRS:  # as in a run: a useradd and a userdel never overlap
                result = self._run(context.fresh(), ())
        notice = gate.repaired(result.status in (Status.CHANGED, Status.FAILED))
        if notice is not None:
            log.warning("resource is flapping", extra={"resource": self.resource.id, "notice": notice})
            result = result.model_copy(update={"summary": "; ".join(filter(None, [result.summary, notice]))})
        self._quiet_until = time.monotonic() + DEBOUNCE
        self._open_window(max(DEBOUNCE, gate.wait()))
        if result.status is Status.FAILED and result.summary == self._last_failure and notice is None:
            return  # the same failure again (a service that cannot start): said once is enough
        self._last_failure = result.summary if result.status is Status.FAILED else None
        if result.status in (Status.CHANGED, Status.FAILED):
            on_result(result)

    def _open_window(self, delay: float) -> None:
        """Fold the events of the next `delay` seconds into one check at its end."""
        self._generation += 1
        self._window_open = True
        generation, ref = self._generation, self.actor_ref
        self.actor_pool.call_later(delay, lambda: _tell(ref, DebounceElapsed(generation)))

    def _schedule_poll(self) -> None:
        if self._watch_context is None:
            return
        watch = self._module.watch(self.resource.options, self._watch_context)
        if watch is None or watch.interval is None:
            return
        session, ref = self._session, self.actor_ref
        self.actor_pool.call_later(watch.interval, lambda: _tell(ref, PollDue(session)))


def _tell(ref: Any, message: object) -> None:
    try:
        ref.tell(message)
    except ActorDeadError:
        pass


def _distinct_actions(triggers: tuple[tuple[str, str], ...]) -> list[str]:
    seen: list[str] = []
    for _, action in triggers:
        if action not in seen:
            seen.append(action)
    return seen
