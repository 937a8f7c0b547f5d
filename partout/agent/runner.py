"""The runner child: applies the policy in force with the Engine (compiled by a
`CompilerActor`), keeps repairing drift, re-applies every interval and on the master's
request, and wraps every report for the outbox.

It has a thread of its own: an Engine run blocks (and the Engine is not thread-safe, so
one actor driving it is exactly right). `run_policy` is the compile-and-run step that
`partout agent --once` (partout.agent.once) shares.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka

from partout.actors.supervisor import Send, ThreadedChild, tell_later, tell_quietly
from partout.agent.event_messages import EVENTS, Outcomes
from partout.agent.facts import load_facts
from partout.agent.messages import (
    FACTS, OUTBOX, POLICY_FEED, RUNNER, AgentContext, AnnouncePolicy, Applying, ApplyNow, BundleRefused, BusReady,
    FactsGathered, PolicyInForce, ResendFacts, SendReport, Standing,
)
from partout.agent.nodes import MasterInventory
from partout.agent.nodes_cache import ANSWERS_FILE, AnswerCache
from partout.agent.reports import BUNDLE_RESULT, COMPILE_RESULT, policy_failure, wrap
from partout.errors import PolicyError
from partout.report import Report

from partout.dsl.catalog import Catalog
from partout.dsl.triggers import Trigger

if TYPE_CHECKING:
    from partout.engine import Engine

log = logging.getLogger(__name__)

COMPILE_TIMEOUT = 600.0


def run_policy(engine: Engine, entry_point: Path, facts: Any, trigger: str,
               compile_policy: Callable[[Path, Any], Catalog]) -> tuple[Report, Catalog | None]:
    """Compile `entry_point` for `facts` and apply it: the report and the catalog, or a
    one-result failed report and None when the policy does not compile here."""
    try:
        catalog = compile_policy(entry_point, facts)
    except PolicyError as error:
        log.error("policy does not compile here", extra={"error": str(error)})
        hostname = str(getattr(facts, "hostname", "") or "")
        return policy_failure(COMPILE_RESULT, str(error), policy=str(entry_point), hostname=hostname,
                              trigger=trigger), None
    engine.facts = facts
    return engine.run(catalog, trigger=trigger), catalog


@dataclass(frozen=True)
class _IntervalDue:
    generation: int


@dataclass(frozen=True)
class _Drift:
    report: Report


class RunnerActor(ThreadedChild):
    name = RUNNER

    def __init__(self, parent: pykka.ActorRef[Any], context: AgentContext) -> None:
        super().__init__(parent)
        self._context = context
        self._policy: PolicyInForce | None = None
        self._interval_generation = 0
        self._facts: Any = None
        self._engine: Engine | None = None
        self._compiler: pykka.ActorRef[Any] | None = None
        # p2.nodes asks the master; its last answers stand in while it is unreachable
        self._inventory = MasterInventory(context.agent_id,
                                          cache=AnswerCache(context.config.state_dir / ANSWERS_FILE))

    def begin(self) -> None:
        from partout.actors.compiler import CompilerActor
        from partout.engine import Engine

        config = self._context.config
        self._facts = load_facts(config)
        self._engine = Engine(config.state_dir, self._facts, facts_d=config.facts_d, repair_limit=config.repair_limit)
        self._compiler = CompilerActor.start()
        self.parent.tell(Send(FACTS, FactsGathered(self._facts)))
        self.parent.tell(Send(POLICY_FEED, AnnouncePolicy()))  # what is in force (we may be a successor)
        self._schedule_interval()

    def on_stop(self) -> None:
        if self._engine is not None:
            self._engine.stop()
        if self._compiler is not None:
            self._compiler.stop(block=False)

    def handle(self, message: object) -> object:
        match message:
            case PolicyInForce(sequence=sequence, trigger=trigger):
                if trigger == "start" and self._policy is not None and self._policy.sequence == sequence:
                    return None  # told twice at start: in force already
                self._policy = message
                self.parent.tell(Applying(sequence))
                self._apply(trigger)
                if message.then_running:
                    self.parent.tell(Standing("running"))
            case ApplyNow(trigger, triggers):
                self._apply(trigger, triggers)
            case _IntervalDue(generation) if generation == self._interval_generation:
                self._apply("interval")
            case _IntervalDue():
                pass  # replaced by a later schedule
            case _Drift(report):
                self._send(report)
            case BundleRefused(reason):
                self._send(policy_failure(BUNDLE_RESULT, reason, policy=self._context.environment,
                                          hostname=self._hostname(), trigger="policy"))
            case BusReady(bus=bus):
                if self._inventory.use_bus(bus):
                    self._apply("data-changed")  # the last compile used cached p2.nodes answers
            case ResendFacts():
                self.parent.tell(Send(FACTS, FactsGathered(self._facts)))
            case _:
                return super().handle(message)
        return None

    def _schedule_interval(self) -> None:
        config = self._context.config
        self._interval_generation += 1
        delay = config.interval * (1 + random.uniform(0, config.splay))
        tell_later(delay, self.actor_ref, _IntervalDue(self._interval_generation))

    def _apply(self, trigger: str, triggers: tuple[Trigger, ...] = ()) -> None:
        self._schedule_interval()
        if self._policy is None:
            log.info("no policy yet; waiting for the master to publish one")
            return
        if self._context.config.facts is None:  # gathered (or read from the facts file) again each run
            self._facts = load_facts(self._context.config)
        # the periodic run sends its facts even unchanged: a master restarted with other
        # fact_sections (or a lost store) hears from every agent within one interval
        self.parent.tell(Send(FACTS, FactsGathered(self._facts, force=trigger == "interval")))
        assert self._engine is not None
        # the fired triggers reach this compile only: p2.on_trigger blocks run once
        report, catalog = run_policy(self._engine, self._policy.directory / "site.p2", self._facts, trigger,
                                     lambda entry_point, facts: self._compile(entry_point, facts, triggers))
        if catalog is not None and self._context.config.watch:
            me = self.actor_ref
            self._engine.watch(catalog, lambda drift: tell_quietly(me, _Drift(drift)))
        self._send(report)

    def _compile(self, entry_point: Path, facts: Any, triggers: tuple[Trigger, ...]) -> Catalog:
        from partout.actors.compiler import Compile

        assert self._compiler is not None
        self._inventory.new_compile()
        catalog = self._compiler.ask(Compile(entry_point, facts, inventory=self._inventory, triggers=triggers),
                                     block=True, timeout=COMPILE_TIMEOUT)
        assert isinstance(catalog, Catalog)
        self._inventory.compiled()
        return catalog

    def _hostname(self) -> str:
        return str(getattr(self._facts, "hostname", "") or "")

    def _send(self, report: Report) -> None:
        policy = self._policy
        run_report = wrap(report, agent_id=self._context.agent_id, environment=self._context.environment,
                          sequence=policy.sequence if policy else 0, digest=policy.digest if policy else "")
        self.parent.tell(Send(OUTBOX, SendReport(run_report)))
        self.parent.tell(Send(EVENTS, Outcomes(run_report)))  # each result is an event too
        if self._context.on_report is not None:  # the report is on its way, as the outbox's caller saw it
            try:
                self._context.on_report(run_report)
            except Exception:
                log.exception("on_report callback failed")


__all__ = ["RunnerActor", "run_policy"]
