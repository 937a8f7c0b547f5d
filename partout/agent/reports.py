"""Reports the agent sends: each run's Report wrapped in a RunReport, and the reports
that say a policy could not be used (refused bundle, compile error)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from partout.report import Report, ResourceResult, Status
from partout.wire.fleet import RunReport

# Ids of the pseudo-resources that carry "the policy itself failed" in a report.
BUNDLE_RESULT = "policy:bundle"
COMPILE_RESULT = "policy:compile"


def wrap(report: Report, *, agent_id: str, environment: str, sequence: int, digest: str) -> RunReport:
    """A RunReport with a fresh id: the id is the JetStream message id, so a retried
    publish is stored once and the master stores each run once."""
    return RunReport(report_id=str(uuid.uuid4()), agent_id=agent_id, environment=environment,
                     bundle_digest=digest, sequence=sequence, report=report)


def policy_failure(result_id: str, reason: str, *, policy: str, hostname: str, trigger: str) -> Report:
    """A one-result failed Report: what the operator sees when a policy was not applied."""
    return Report(policy=policy, hostname=hostname, started_at=datetime.now(timezone.utc), trigger=trigger,
                  results=[ResourceResult(id=result_id, status=Status.FAILED, summary=reason[:2000])])


__all__ = ["BUNDLE_RESULT", "COMPILE_RESULT", "policy_failure", "wrap"]
