"""`partout master` as a real process, driven by the operator CLI (`partout agents ...`,
`partout reports`) as real processes: tables by default, JSON with --json."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import eventually, run_partout
from test_master_support import MasterEnv, enrol, master_env, new_agent_key  # noqa: F401

__all__ = ["master_env"]


@pytest.fixture
def master_process(master_env: MasterEnv) -> Iterator[tuple[MasterEnv, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "partout", "master", "--nats", master_env.urls[0],
         "--nats-state", str(master_env.nats_state), "--state-dir", str(master_env.directory / "master"),
         "--environments", str(master_env.environments), "--sample-facts", str(master_env.directory / "facts.json"),
         "--auto-approve", "auto-*=staging"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert eventually(lambda: (master_env.directory / "master" / "store.sqlite").exists() and
                          cli(master_env, "agents", "list").returncode == 0, timeout=20)
        yield master_env, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def cli(env: MasterEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return run_partout(*args, "--nats", env.urls[0], "--nats-state", str(env.nats_state), timeout=30)


@pytest.mark.slow
def test_operator_cli_approves_shows_and_revokes_an_agent(master_process, tmp_path: Path) -> None:
    env, process = master_process
    agent = new_agent_key(tmp_path)
    assert enrol(env.urls, agent, hostname="web-42").status == "pending"
    assert enrol(env.urls, new_agent_key(tmp_path), hostname="auto-1").status == "approved"

    listed = cli(env, "agents", "list", "--status", "pending")
    assert listed.returncode == 0, listed.stderr
    assert "web-42" in listed.stdout and "pending" in listed.stdout and "auto-1" not in listed.stdout

    approved = cli(env, "agents", "approve", "web-42", "--env", "production")
    assert approved.returncode == 0, approved.stderr
    assert "in environment production" in approved.stdout

    shown = json.loads(cli(env, "agents", "show", agent.public, "--json").stdout)
    assert shown["status"] == "approved" and shown["environment"] == "production" and shown["last_report"] is None

    reports = cli(env, "reports", shown["agent_id"])
    assert reports.returncode == 0 and "no reports" in reports.stdout

    from test_master_ingest import publish_reports, run_report

    report = run_report(shown["agent_id"])
    publish_reports(env, agent, shown["agent_id"], [(report, report.report_id)])
    assert eventually(lambda: report.report_id in cli(env, "reports", "web-42").stdout, timeout=10)
    listed_reports = cli(env, "reports", "web-42", "--results")
    assert "file:/tmp/x" in listed_reports.stdout and "changed" in listed_reports.stdout
    assert json.loads(cli(env, "reports", "web-42", "--json").stdout)[0]["counts"] == {"changed": 1}
    assert "1 changed" in cli(env, "agents", "show", "web-42").stdout

    revoked = cli(env, "agents", "revoke", shown["agent_id"][:8])
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(Exception, match="Authorization Violation"):
        enrol(env.urls, agent, hostname="web-42")
    assert json.loads(cli(env, "agents", "list", "--json", "--status", "revoked").stdout)[0]["hostname"] == "web-42"

    assert "no policy errors" in cli(env, "agents", "policy-errors").stdout
    (env.environments / "production" / "site.p2").write_text('p2.file("/tmp/a", content="a")\np2.nope("x")\n')
    assert eventually(lambda: "site.p2:2" in cli(env, "agents", "policy-errors", "--env", "production").stdout,
                      timeout=10)

    missing = cli(env, "agents", "show", "no-such-agent")
    assert missing.returncode == 1 and "no agent" in missing.stderr

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
