"""Attack 6: terminal escape injection through what an agent sends.

A rogue enrols with a hostname and facts full of ESC/CSI/OSC sequences, C1 controls,
newlines and a bidi override, gets approved, and files a report whose resource ids and
summaries carry more. Every text output of the operator CLI shows them escaped (`\\x1b`),
never raw; --json stays exact JSON; a normal agent's names print unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ops_support import Fleet, approved, cli, enrol, eventually, fleet, new_agent_key, publish_as, wait_pending

from partout import subjects
from partout.cli.terminal import safe

__all__ = ["fleet"]

HOSTILE_HOSTNAME = "evil\x1b]0;owned\x07\x1b[2J\x1b[1A\rweb-1  approved\n\x9b31m\u202egnp.exe"
HOSTILE_FACT = "\x1b[8mhidden\x1b[0m\x00\x7f"
HOSTILE_RESOURCE = "file:/etc/\x1b[32mok\x1b[0m"
HOSTILE_SUMMARY = "content changed\x1b[2K\r\x1b]52;c;cm0gLXJmIH4=\x07"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\x00", "\x7f", "\u202e")


def assert_inert(text: str) -> None:
    for character in RAW:
        assert character not in text, f"raw {character!r} reached the terminal: {text!r}"


def hostile_agent(fleet: Fleet, tmp_path: Path) -> tuple[str, str]:
    """(public key, agent id) of an approved rogue that filed one hostile report."""
    rogue = new_agent_key(tmp_path, "rogue")
    facts = {"hostname": HOSTILE_HOSTNAME, "fqdn": HOSTILE_FACT, "os": {"name": HOSTILE_FACT}}
    reply = enrol(fleet.urls, rogue, hostname=HOSTILE_HOSTNAME, facts=facts)
    assert reply is not None and reply.status == "pending"
    assert wait_pending(fleet, rogue.public)
    approval = cli(fleet, "agents", "approve", rogue.public[:20])
    assert approval.returncode == 0, approval.stderr
    assert_inert(approval.stdout + approval.stderr)
    agent_id = str(fleet.operator.show(rogue.public)["agent_id"])
    report = {
        "v": 1, "report_id": str(uuid.uuid4()), "agent_id": agent_id, "environment": "production",
        "bundle_digest": "", "sequence": 1,
        "report": {"policy": HOSTILE_FACT, "hostname": HOSTILE_HOSTNAME,
                   "started_at": datetime.now(UTC).isoformat(), "trigger": "run",
                   "results": [{"id": HOSTILE_RESOURCE, "status": "changed", "summary": HOSTILE_SUMMARY}]},
    }
    publish_as(fleet, rogue, agent_id, subjects.agent_report(agent_id), report)
    assert eventually(lambda: bool(fleet.operator.reports(agent_id)), timeout=20)
    return rogue.public, agent_id


def test_hostile_strings_reach_no_terminal_raw_through_any_operator_command(fleet: Fleet, tmp_path: Path) -> None:
    public_key, agent_id = hostile_agent(fleet, tmp_path)
    outputs = {
        "list": cli(fleet, "agents", "list"),
        "show": cli(fleet, "agents", "show", agent_id),
        "reports": cli(fleet, "reports", agent_id, "--results"),
        "apply": cli(fleet, "agents", "apply", agent_id),
        "revoke": cli(fleet, "agents", "revoke", agent_id),
    }
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert_inert(result.stdout + result.stderr)
    assert safe(HOSTILE_HOSTNAME) in outputs["list"].stdout  # shown escaped, not dropped
    assert "\\x1b]0;owned\\x07" in outputs["show"].stdout
    assert safe(HOSTILE_FACT) in outputs["show"].stdout
    assert safe(HOSTILE_RESOURCE) in outputs["reports"].stdout
    assert safe(HOSTILE_SUMMARY) in outputs["reports"].stdout
    # the forged "web-1  approved" row stays on the rogue's own line
    rows = outputs["list"].stdout.splitlines()
    assert len(rows) == 2 and public_key not in rows[0]


def test_json_output_keeps_the_exact_strings_escaped_by_json(fleet: Fleet, tmp_path: Path) -> None:
    _, agent_id = hostile_agent(fleet, tmp_path)
    listed = cli(fleet, "agents", "list", "--json")
    reports = cli(fleet, "reports", agent_id, "--json")
    assert_inert(listed.stdout + reports.stdout)
    assert json.loads(listed.stdout)[0]["hostname"] == HOSTILE_HOSTNAME
    assert json.loads(reports.stdout)[0]["results"][0]["summary"] == HOSTILE_SUMMARY


def test_a_normal_agents_names_print_unchanged_beside_a_hostile_one(fleet: Fleet, tmp_path: Path) -> None:
    hostile_agent(fleet, tmp_path)
    normal = fleet.agent("prod-web-1.example.com")
    assert approved(normal)
    listed = cli(fleet, "agents", "list")
    assert " prod-web-1.example.com " in listed.stdout
    assert_inert(listed.stdout)


def test_safe_escapes_every_control_and_keeps_ordinary_text() -> None:
    assert safe("web-1.example.com ünïcode 日本") == "web-1.example.com ünïcode 日本"
    assert safe("\x1b[31m") == "\\x1b[31m"
    assert safe("\x9b\x85\u2028\u202e") == "\\x9b\\x85\\u2028\\u202e"
    assert all(chr(code) not in safe("".join(map(chr, range(0x20)))) for code in range(0x20))
