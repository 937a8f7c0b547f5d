"""Attack 5: make the operator approve (or act on) the wrong agent.

The operator's words resolve by id or key prefix first; a hostname, which is only what an
agent claims, is taken last and only when one agent claims it, and is shown with the key it
stands for. An approved agent cannot rename itself by enrolling again. Each test is a rogue
with its own nkey against a real partout-nats + master, and the real agent still works."""

from __future__ import annotations

from pathlib import Path

from ops_support import (
    Fleet, approved, cli, enrol, eventually, fleet, key_sharing_prefix, new_agent_key, wait_pending,
)

from partout.agent.identity import SEED_FILE
from partout.nats.keys import USER, load_seed
from test_master_support import AgentKey

__all__ = ["fleet"]


def pending_agent(fleet: Fleet, hostname: str) -> tuple[object, str]:
    """A real agent (the Agent class) waiting for approval, and its public key."""
    agent = fleet.agent(hostname)
    key = agent.agent.public_key
    assert wait_pending(fleet, key)
    return agent, key


def test_a_rogue_named_after_a_real_agents_key_prefix_is_not_approved_instead(fleet: Fleet, tmp_path: Path) -> None:
    real, real_key = pending_agent(fleet, "web-7")
    rogue = new_agent_key(tmp_path, "rogue")
    reply = enrol(fleet.urls, rogue, hostname=real_key[:8])
    assert reply is not None and reply.status == "pending"

    result = cli(fleet, "agents", "approve", real_key[:8])

    assert result.returncode == 0, result.stderr
    assert f"key {real_key}" in result.stdout and "web-7" in result.stdout
    assert rogue.public not in result.stdout
    statuses = {agent["public_key"]: agent["status"] for agent in fleet.operator.agents()}
    assert statuses == {real_key: "approved", rogue.public: "pending"}
    assert approved(real)  # the real agent goes on: approved, and it applies the policy
    assert eventually(lambda: real.content() == "production 1\n", timeout=20)


def test_a_rogue_named_after_an_approved_agents_id_prefix_is_not_shown_or_revoked_instead(
        fleet: Fleet, tmp_path: Path) -> None:
    real = fleet.agent("prod-1")  # auto-approved
    assert approved(real)
    agent_id = str(real.agent.agent_id)
    rogue = new_agent_key(tmp_path, "rogue")
    enrol(fleet.urls, rogue, hostname=agent_id[:8])
    assert wait_pending(fleet, rogue.public)

    shown = cli(fleet, "agents", "show", agent_id[:8], "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"matched": "id prefix"' in shown.stdout and f'"agent_id": "{agent_id}"' in shown.stdout
    reports = cli(fleet, "reports", agent_id[:8])
    assert reports.returncode == 0, reports.stderr
    assert "matched by hostname" not in reports.stdout


def test_a_rogue_key_sharing_a_prefix_makes_that_prefix_ambiguous_and_nothing_is_approved(
        fleet: Fleet, tmp_path: Path) -> None:
    real, real_key = pending_agent(fleet, "web-8")
    rogue = key_sharing_prefix(tmp_path, real_key, length=4)
    enrol(fleet.urls, rogue, hostname="web-8-twin")
    assert wait_pending(fleet, rogue.public)

    ambiguous = cli(fleet, "agents", "approve", real_key[:4])

    assert ambiguous.returncode == 1
    assert "matches several agents by id or key prefix" in ambiguous.stderr
    assert real_key in ambiguous.stderr and rogue.public in ambiguous.stderr  # the candidates, listed
    assert all(agent["status"] == "pending" for agent in fleet.operator.agents())
    exact = cli(fleet, "agents", "approve", real_key[:16])
    assert exact.returncode == 0, exact.stderr
    assert approved(real)


def test_a_hostname_claimed_twice_is_refused_listing_both_keys(fleet: Fleet, tmp_path: Path) -> None:
    real, real_key = pending_agent(fleet, "web-9")
    rogue = new_agent_key(tmp_path, "rogue")
    enrol(fleet.urls, rogue, hostname="web-9")
    assert wait_pending(fleet, rogue.public)

    result = cli(fleet, "agents", "approve", "web-9")

    assert result.returncode == 1
    assert "matches several agents by hostname" in result.stderr
    assert real_key in result.stderr and rogue.public in result.stderr
    assert all(agent["status"] == "pending" for agent in fleet.operator.agents())


def test_a_unique_hostname_is_accepted_and_shown_with_the_key_it_matched(fleet: Fleet) -> None:
    real, real_key = pending_agent(fleet, "web-10")

    result = cli(fleet, "agents", "approve", "web-10")

    assert result.returncode == 0, result.stderr
    assert f"approved web-10 (key {real_key}, matched by hostname)" in result.stdout
    assert approved(real)


def taken_over_key(agent_state: Path, tmp_path: Path) -> AgentKey:
    """The seed of an approved agent, as an attacker who took the machine over has it."""
    import nkeys

    seed = load_seed(agent_state / SEED_FILE, USER)
    return AgentKey(nkeys.from_seed(bytearray(seed)), agent_state / SEED_FILE)


def test_an_approved_agent_cannot_rename_itself_by_enrolling_again(fleet: Fleet, tmp_path: Path) -> None:
    real = fleet.agent("prod-2")
    assert approved(real)
    stolen = taken_over_key(tmp_path / "agents" / "prod-2", tmp_path)

    reply = enrol(fleet.urls, stolen, hostname="db-master")

    assert reply is not None and reply.status == "approved"  # it is still that agent
    record = fleet.operator.show(str(real.agent.agent_id))
    assert record["hostname"] == "prod-2"
    assert cli(fleet, "agents", "approve", "db-master").returncode == 1  # nobody is called that
    assert fleet.master is not None
    log = fleet.master.store.enrolments()
    assert any(entry.hostname == "db-master" and "claimed hostname 'db-master' ignored" in entry.reason
               for entry in log)
    real.motd.write_text("drift\n")  # and the real agent goes on repairing
    assert eventually(lambda: real.content() == "production 1\n", timeout=20)
