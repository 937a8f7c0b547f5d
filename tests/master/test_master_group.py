"""Two masters side by side on one backbone and one store: they share enrolments, the
callout and the reports (one durable consumer), store each report once, and do not
republish a policy the other one already published."""

from __future__ import annotations

from pathlib import Path

from helpers import eventually
from test_master_ingest import approved_agent, publish_reports, run_report
from test_master_support import enrol, master_env, new_agent_key  # noqa: F401

from partout.master.config import AutoApproveRule

__all__ = ["master_env"]


def test_two_masters_share_the_work_and_store_each_report_once(master_env, tmp_path: Path) -> None:
    rules = (AutoApproveRule(hostname="auto-*"),)
    first = master_env.master(auto_approve=rules)
    try:
        second = master_env.master(auto_approve=rules)
        try:
            # the second found the first's bundle and left it alone
            assert second.store.latest_policy_version("production").sequence == 1
            agents = [approved_agent(master_env, tmp_path) for _ in range(4)]
            reports = []
            for agent, agent_id in agents:
                batch = [run_report(agent_id) for _ in range(5)]
                publish_reports(master_env, agent, agent_id, [(report, report.report_id) for report in batch])
                reports += [(agent_id, report.report_id) for report in batch]
            stored = lambda: sum(len(first.store.reports(agent_id, 100)) for _agent, agent_id in agents)
            assert eventually(lambda: stored() == len(reports))
            counted = lambda: (first.ingest.proxy().reports_stored.get() +
                               second.ingest.proxy().reports_stored.get())
            assert eventually(lambda: counted() == len(reports))
            pending = new_agent_key(tmp_path)
            assert enrol(master_env.urls, pending, hostname="web-1").status == "pending"
        finally:
            second.stop()
    finally:
        first.stop()
