"""Policies across a fleet: edits reach their environment only, tampering is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetenv import Fleet, running_fleet
from helpers import eventually

from partout import subjects
from partout.report import Status


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as running:
        yield running


def test_an_edited_environment_is_reapplied_on_its_agents_and_no_other(fleet: Fleet) -> None:
    web1, web2, stage = fleet.agent("prod-1"), fleet.agent("prod-2"), fleet.agent("stage-1")
    assert eventually(lambda: web1.content() == web2.content() == "production 1\n", timeout=15)
    assert eventually(lambda: stage.content() == "staging 1\n" and len(stage.runs()) == 1, timeout=15)
    staging_runs = len(stage.runs())
    fleet.write_policy("production", "production 2\n")
    assert eventually(lambda: web1.content() == web2.content() == "production 2\n", timeout=15)
    assert stage.content() == "staging 1\n"
    assert len(stage.runs()) == staging_runs
    assert eventually(lambda: web1.runs()[-1].sequence > web1.runs()[0].sequence)


def test_a_tampered_bundle_in_the_kv_is_refused_and_the_last_good_policy_stays(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n", timeout=15)
    assert fleet.master is not None
    bus = fleet.master.bus
    key = subjects.policy_key("production")
    current = bus.kv_get(subjects.POLICY_BUCKET, key).get(timeout=10)
    envelope = json.loads(current.value)
    manifest = json.loads(envelope["manifest"])
    manifest["sequence"] += 100  # a "newer" policy nobody signed
    envelope["manifest"] = json.dumps(manifest)
    bus.kv_put(subjects.POLICY_BUCKET, key, json.dumps(envelope).encode()).get(timeout=10)

    def refused() -> bool:
        return any(r.report.results and r.report.results[0].id == "policy:bundle" for r in agent.runs())

    assert eventually(refused, timeout=15)
    refusal = [r for r in agent.runs() if r.report.results[0].id == "policy:bundle"][0].report.results[0]
    assert refusal.status is Status.FAILED and "signature" in refusal.summary
    agent.motd.write_text("drift\n")  # the last good policy is still in force and watched
    assert eventually(lambda: agent.content() == "production 1\n")
    assert eventually(lambda: any(r["report_id"] for r in fleet.operator.reports(agent.agent.agent_id or "")))


def test_a_policy_that_does_not_compile_is_not_published(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n", timeout=15)
    runs = len(agent.runs())
    (fleet.environments / "production" / "site.p2").write_text("p2.file('/x', mdoe='0644')\n")
    assert eventually(lambda: bool(fleet.operator.policy_errors("production")), timeout=15)
    fleet.write_policy("production", "production 3\n")
    assert eventually(lambda: agent.content() == "production 3\n", timeout=15)
    assert all(not r.report.failed for r in agent.runs()[runs:])
