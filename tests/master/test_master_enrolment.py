"""Enrolment against a running master on a secured nats-server: pending, approved by rule,
refused when malformed, forged or oversized (then nothing is stored: the refusal is counted)."""

from __future__ import annotations

from pathlib import Path

from test_master_support import enrol, enrol_request, master_env, new_agent_key, running_master  # noqa: F401

from partout.master.daemon import Master
from partout.master.store import open_store
from partout.wire.fleet import MAX_ENROL_BYTES, EnrolRequest
from partout.wire import encode

__all__ = ["master_env", "running_master"]


def store_of(master: Master) -> Path:
    return Path(master.config.store_location)


def test_a_signed_enrolment_is_recorded_pending(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent = new_agent_key(tmp_path)
    reply = enrol(env.urls, agent, hostname="web-1")
    assert reply is not None and reply.status == "pending"
    assert reply.master_public_key == master.public_key
    record = master.store.agent_by_public_key(agent.public)
    assert record is not None and record.status == "pending" and record.hostname == "web-1"
    assert master.store.enrolments()[0].outcome == "pending"


def test_a_hostname_rule_approves_at_once_into_its_environment(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent = new_agent_key(tmp_path)
    reply = enrol(env.urls, agent, hostname="auto-7")
    assert reply is not None and reply.status == "approved"
    assert reply.environment == "production" and reply.agent_id
    assert master.store.agent_by_public_key(agent.public).agent_id == reply.agent_id
    again = enrol(env.urls, agent, hostname="auto-7")
    assert again is not None and again.status == "approved" and again.agent_id == reply.agent_id


def test_a_token_rule_approves_and_a_wrong_token_stays_pending(running_master, tmp_path: Path) -> None:
    env, master = running_master
    good, bad = new_agent_key(tmp_path, "good"), new_agent_key(tmp_path, "bad")
    approved = enrol(env.urls, good, hostname="db-1", token="secret-enrolment-token")
    pending = enrol(env.urls, bad, hostname="db-2", token="secret-enrolment-tokeX")
    assert approved is not None and approved.status == "approved" and approved.environment == "staging"
    assert pending is not None and pending.status == "pending"


def test_a_forged_signature_is_refused_and_nothing_is_stored(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent, victim = new_agent_key(tmp_path, "forger"), new_agent_key(tmp_path, "victim")
    # signed by the forger's key, claiming the victim's public key
    forged = EnrolRequest(public_key=victim.public, hostname="auto-1").signed_by(agent.key_pair)
    reply = enrol(env.urls, agent, data=encode(forged))
    assert reply is not None and reply.status == "refused" and "another key" in reply.reason
    assert master.store.agents() == [] and master.store.enrolments() == []
    assert master.security["enrol.key-mismatch"] == 1


def test_malformed_and_oversized_requests_are_refused_and_nothing_is_stored(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent = new_agent_key(tmp_path)
    malformed = enrol(env.urls, agent, data=b'{"public_key": 12, "hostname": ')
    oversized = enrol(env.urls, agent, data=enrol_request(agent)[:-1] + b" " * MAX_ENROL_BYTES + b"}")
    assert malformed is not None and malformed.status == "refused"
    assert oversized is not None and oversized.status == "refused" and "limit" in oversized.reason
    assert master.store.agents() == [] and master.store.enrolments() == []
    assert master.security["enrol.malformed"] == 1 and master.security["enrol.oversized"] == 1


def test_a_malformed_key_is_refused_and_nothing_is_stored(running_master, tmp_path: Path) -> None:
    env, master = running_master
    agent = new_agent_key(tmp_path)
    request = EnrolRequest(public_key="UNOT-A-REAL-NKEY", hostname="auto-1").signed_by(agent.key_pair)
    reply = enrol(env.urls, agent, data=encode(request))
    assert reply is not None and reply.status == "refused"
    assert master.store.agents() == []


def test_a_facts_rule_approves_agents_whose_facts_match(master_env, tmp_path: Path) -> None:
    from partout.master.config import AutoApproveRule

    master = master_env.master(auto_approve=(AutoApproveRule(facts={"os.family": "debian"}, environment="lab"),))
    try:
        debian, redhat = new_agent_key(tmp_path, "debian"), new_agent_key(tmp_path, "redhat")
        approved = enrol(master_env.urls, debian, hostname="x1", facts={"os": {"family": "debian"}})
        pending = enrol(master_env.urls, redhat, hostname="x2", facts={"os": {"family": "redhat"}})
        assert approved is not None and approved.status == "approved" and approved.environment == "lab"
        assert pending is not None and pending.status == "pending"
    finally:
        master.stop()


def test_new_agents_beyond_max_pending_are_refused_and_known_ones_still_answered(master_env, tmp_path: Path) -> None:
    master = master_env.master(max_pending=1)
    try:
        first, second = new_agent_key(tmp_path, "first"), new_agent_key(tmp_path, "second")
        assert enrol(master_env.urls, first, hostname="a").status == "pending"
        refused = enrol(master_env.urls, second, hostname="b")
        assert refused is not None and refused.status == "refused" and "wait for approval" in refused.reason
        assert enrol(master_env.urls, first, hostname="a").status == "pending"
        assert master.store.agent_by_public_key(second.public) is None
    finally:
        master.stop()
