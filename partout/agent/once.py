"""`partout agent --once`: enrol if needed, apply the policy in force once, publish the
report and its events (one batch) and wait for their acknowledgement. A straight line on the caller's thread: it
shares the steps of the daemon's actors (approval, feed, runner, outbox), not their loops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pykka

from partout import subjects

from partout.agent.approval import approve
from partout.agent.config import AgentConfig
from partout.agent.connection import open_bus
from partout.agent.nodes import MasterInventory
from partout.agent.credentials import Credentials
from partout.agent.enrolment import ConnectionLost, ConnectionWaiter, reconnect_pauses, stop_quietly
from partout.agent.events_actor import batch_of
from partout.agent.facts import load_facts, published_sections
from partout.agent.facts_publisher import facts_update, publish_facts
from partout.agent.feed import PolicyFeed, PolicyValue
from partout.agent.messages import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, AgentContext
from partout.agent.notices import Notices
from partout.agent.outbox import ACK_TIMEOUT, ReportOutbox
from partout.agent.policy import PolicyCache, PolicyRefused
from partout.agent.reports import BUNDLE_RESULT, policy_failure, wrap
from partout.agent.runner import run_policy
from partout.bus.facade import Bus
from partout.bus.messages import PublishAck
from partout.errors import PolicyError, StateError
from partout.report import Report
from partout.wire import encode
from partout.wire.fleet import RunReport

log = logging.getLogger(__name__)


def connect(context: AgentContext, stopping: threading.Event, deadline: float | None) -> Bus:
    """A connected Bus, replacing one that is closed or stalls before it connects."""
    pauses = reconnect_pauses()
    while True:
        bus = open_bus(context)
        try:
            ConnectionWaiter(bus).wait(stopping, deadline)
            return bus
        except ConnectionLost:
            stop_quietly(bus)
            if stopping.wait(pauses.next()):
                raise
        except BaseException:
            stop_quietly(bus)
            raise


def current_policy(bus: Bus, context: AgentContext) -> PolicyValue | None:
    values: list[PolicyValue] = []
    feed = PolicyFeed(bus, context.agent_id, context.environment, values.append)
    try:
        feed.refresh(timeout=ACK_TIMEOUT)
    finally:
        feed.stop()
    return values[0] if values else None


def run_once(config: AgentConfig, credentials: Credentials, *, stopping: threading.Event, wait: float | None,
             on_report: Callable[[RunReport], None] | None = None) -> int:
    """0 all ok, 1 some resource failed, 2 no usable policy (PolicyError when none is published)."""
    from partout.dsl.compiler import compile_policy
    from partout.engine import Engine

    deadline = None if wait is None else time.monotonic() + wait
    notices = Notices()
    approve(config, credentials, stopping=stopping, deadline=deadline, notices=notices)
    assert credentials.agent_id and credentials.environment and credentials.master_public_key
    context = AgentContext(config, credentials.agent_id, credentials.environment, credentials.master_public_key,
                           credentials.seed_path)
    bus = connect(context, stopping, deadline)
    outbox = ReportOutbox(lambda: bus)
    event_acks: list[pykka.Future[PublishAck]] = []

    def wait_acks() -> None:
        deadline = time.monotonic() + ACK_TIMEOUT
        outbox.wait(ACK_TIMEOUT)
        for ack in event_acks:
            try:
                ack.get(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as error:
                log.warning("event batch may be lost", extra={"error": str(error)})

    try:
        value = current_policy(bus, context)
        if value is None or not value.value:
            # a PolicyError: the CLI exits 2, "no usable policy", like a refused or broken one
            raise PolicyError(f"no policy published yet for environment {context.environment!r}; "
                              f"put a site.p2 in that environment's folder on the master")
        facts = load_facts(config)

        def send(report: Report, sequence: int, digest: str) -> None:
            run_report = wrap(report, agent_id=context.agent_id, environment=context.environment,
                              sequence=sequence, digest=digest)
            outbox.send(run_report)
            batch = batch_of(run_report, datetime.now(UTC))
            if batch is not None:
                event_acks.append(bus.jetstream_publish(subjects.agent_events(context.agent_id), encode(batch),
                                                        message_id=batch.batch_id, timeout=ACK_TIMEOUT))
            if on_report is not None:
                on_report(run_report)

        try:
            accepted = PolicyCache(config.state_dir, keep=config.keep_policies).accept(
                value.value, master_public_key=context.master_public_key, environment=context.environment,
                last_sequence=credentials.last_sequence, last_digest=credentials.last_digest)
            if not accepted.already_applied:
                credentials.record_bundle(accepted.sequence, accepted.digest)
        except (PolicyRefused, StateError) as refusal:
            notices.say(f"bundle refused: {refusal}", "policy bundle refused: %s; the last good policy "
                        "stays in force", refusal)
            send(policy_failure(BUNDLE_RESULT, str(refusal), policy=context.environment,
                                hostname=str(getattr(facts, "hostname", "")), trigger="policy"),
                 credentials.last_sequence, "")
            wait_acks()
            return EXIT_REFUSED
        publish_facts(bus, facts_update(context.agent_id, facts, published_sections()))
        engine = Engine(config.state_dir, facts, facts_d=config.facts_d, repair_limit=config.repair_limit)
        inventory = MasterInventory(context.agent_id)  # p2.nodes asks the master on this connection
        inventory.use_bus(bus)
        inventory.new_compile()
        try:
            report, catalog = run_policy(engine, accepted.entry_point, facts, "run",
                                         lambda path, facts: compile_policy(path, facts, inventory=inventory))
        finally:
            engine.stop()
        send(report, accepted.sequence, accepted.digest)
        wait_acks()
        if catalog is None:
            return EXIT_REFUSED
        return EXIT_FAILED if report.failed else EXIT_OK
    finally:
        stop_quietly(bus)


__all__ = ["run_once"]
