"""One policy version through the agent: accept the bundle, compile it with the facts,
apply it with the Engine, report the result (and the facts when they changed)."""

from __future__ import annotations

import logging
import queue
from typing import Any

from partout import subjects
from partout.agent.core import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, AgentCore, Event
from partout.agent.facts import facts_hash, facts_payload, load_facts
from partout.agent.feed import PolicyFeed, PolicyValue
from partout.agent.outbox import ACK_TIMEOUT
from partout.agent.policy import PolicyRefused
from partout.agent.reports import BUNDLE_RESULT, COMPILE_RESULT, policy_failure, wrap
from partout.errors import PolicyError, StateError
from partout.report import Report
from partout.wire import encode
from partout.wire.fleet import MAX_FACTS_BYTES, FactsUpdate

log = logging.getLogger(__name__)


class RunnerMixin(AgentCore):
    """Policy accept, compile, apply and report for `Agent`."""

    def _on_policy(self, change: Any) -> int | None:
        """Accept a new bundle and apply it; the exit code a one-shot run would return."""
        if change.operation != "put" or not change.value:
            log.warning("policy deleted on the master; keeping the policy in force")
            return None
        credentials = self._load_credentials()
        assert self._policies is not None and credentials.environment and credentials.master_public_key
        try:
            accepted = self._policies.accept(change.value, master_public_key=credentials.master_public_key,
                                             environment=credentials.environment,
                                             last_sequence=credentials.last_sequence,
                                             last_digest=credentials.last_digest)
            if not accepted.already_applied:
                credentials.record_bundle(accepted.sequence, accepted.digest)
        except (PolicyRefused, StateError) as refusal:
            self._notices.say(f"bundle refused: {refusal}", "policy bundle refused: %s; the last good policy "
                              "stays in force", refusal)
            self._send(policy_failure(BUNDLE_RESULT, str(refusal), policy=credentials.environment,
                                      hostname=self._hostname(), trigger="policy"))
            return EXIT_REFUSED
        self._digest = accepted.digest
        if self._notices.last is not None and self._notices.last.startswith("bundle refused: "):
            self._notices.say("bundle accepted", "policy bundle %s accepted again after a refused one",
                              accepted.sequence)
        if accepted.sequence == self.applied_sequence and self.state == "running":
            return None  # a redelivery of what is already in force
        self.applied_sequence = accepted.sequence
        return self._apply("run")

    def _apply(self, trigger: str) -> int:
        from partout.dsl.compiler import compile_policy

        assert self._policies is not None and self._engine is not None
        current = self._policies.current()
        if current is None:
            log.info("no policy yet; waiting for the master to publish one")
            return EXIT_REFUSED
        # the periodic run sends its facts even unchanged: a master restarted with other
        # fact_sections (or a lost store) hears from every agent within one interval
        self._refresh_facts(force=trigger == "interval")
        try:
            catalog = compile_policy(current / "site.p2", self._facts)
        except PolicyError as error:
            log.error("policy does not compile here", extra={"error": str(error)})
            self._send(policy_failure(COMPILE_RESULT, str(error), policy=str(current / "site.p2"),
                                      hostname=self._hostname(), trigger=trigger))
            return EXIT_REFUSED
        self._engine.facts = self._facts
        report = self._engine.run(catalog, trigger=trigger)
        if self.config.watch and self.state == "running":
            self._engine.watch(catalog, lambda drift: self._events.put(Event("drift", drift)))
        self._send(report)
        return EXIT_FAILED if report.failed else EXIT_OK

    def _apply_once(self) -> int:
        credentials = self._load_credentials()
        assert credentials.environment is not None
        assert credentials.agent_id is not None
        values: queue.SimpleQueue[PolicyValue] = queue.SimpleQueue()
        feed = PolicyFeed(self._bus, credentials.agent_id, credentials.environment, values.put)
        feed.start(timeout=ACK_TIMEOUT)
        try:
            entry = values.get(timeout=ACK_TIMEOUT) if feed.pending else None
        except queue.Empty:
            entry = None
        finally:
            feed.stop()
        if entry is None:
            # a PolicyError: the CLI exits 2, "no usable policy", like a refused or broken one
            raise PolicyError(f"no policy published yet for environment {credentials.environment!r}; "
                              f"put a site.p2 in that environment's folder on the master")
        self.applied_sequence = -1  # always run: that is what --once is for
        code = self._on_policy(entry)
        if code is None:
            code = self._apply("run")
        self._outbox.wait(ACK_TIMEOUT)
        return code

    # -- facts and reports --------------------------------------------------------------

    def _hostname(self) -> str:
        return str(getattr(self._facts, "hostname", "") or "")

    def _refresh_facts(self, *, force: bool = False) -> None:
        if self.config.facts is None:  # gathered (or read from the facts file) again each run
            self._facts = load_facts(self.config)
        self._publish_facts(force=force)

    def _publish_facts(self, *, force: bool) -> None:
        credentials = self._load_credentials()
        if self._bus is None or credentials.agent_id is None:
            return
        payload = facts_payload(self._facts, self._fact_sections, limit=MAX_FACTS_BYTES - 4096)
        digest = facts_hash(payload)
        if not force and digest == self._sent_facts_hash:
            return
        update = FactsUpdate(agent_id=credentials.agent_id, facts=payload, facts_hash=digest)
        self._bus.publish(subjects.agent_facts(credentials.agent_id), encode(update))
        self._sent_facts_hash = digest

    def _on_fact_sections(self, sections: frozenset[str]) -> None:
        """The master keeps other sections than we send: send those from now on."""
        if sections != self._fact_sections:
            log.info("the master asks for other fact sections", extra={"sections": sorted(sections)})
            self._fact_sections = sections
            self._publish_facts(force=True)

    def _send(self, report: Report) -> None:
        credentials = self._load_credentials()
        assert credentials.agent_id is not None and credentials.environment is not None
        run_report = wrap(report, agent_id=credentials.agent_id, environment=credentials.environment,
                          sequence=self.applied_sequence if self.applied_sequence > 0 else credentials.last_sequence,
                          digest=self._digest)
        self._outbox.send(run_report)
        if self.on_report is not None:
            try:
                self.on_report(run_report)
            except Exception:
                log.exception("on_report callback failed")


__all__ = ["RunnerMixin"]
