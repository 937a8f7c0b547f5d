"""The agent against a real secured nats-server, approved in advance (no master): policy
bundles from the KV are verified, applied, watched and reported."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import eventually
from natsenv import NatsEnv, secured_backbone
from test_agent_support import ENVIRONMENT, Inbox, Publisher, approved_agent, file_policy, master_bus, tamper

from partout import subjects
from partout.agent.daemon import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Agent
from partout.errors import StateError
from partout.bus.facade import Bus
from partout.report import Status
from partout.wire import encode
from partout.wire.fleet import Control


@pytest.fixture
def env(tmp_path: Path) -> Iterator[NatsEnv]:
    with secured_backbone(tmp_path) as running:
        yield running


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def bus(env: NatsEnv, inbox: Inbox) -> Iterator[Bus]:
    yield from master_bus(env, inbox)


@pytest.fixture
def publisher(env: NatsEnv, bus: Bus, tmp_path: Path) -> Publisher:
    return Publisher(env, bus, tmp_path / "environments")


@pytest.fixture
def running(env: NatsEnv, bus: Bus, tmp_path: Path) -> Iterator[Agent]:
    # `bus` first: the master side subscribes (and flushes) before the agent starts, so the
    # facts it publishes once at start, on a subject no stream keeps, are not missed.
    agent = Agent(approved_agent(env, tmp_path / "agent", "web1"))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def test_a_published_policy_is_applied_and_reported(running: Agent, publisher: Publisher, inbox: Inbox,
                                                    tmp_path: Path) -> None:
    motd = tmp_path / "root" / "motd"
    motd.parent.mkdir()
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "hello\n")}))
    assert eventually(lambda: motd.exists() and motd.read_text() == "hello\n")
    assert eventually(lambda: len(inbox.runs("run")) == 1)
    report = inbox.runs("run")[0]
    assert (report.agent_id, report.environment, report.sequence) == ("web1", ENVIRONMENT, 1)
    assert [result.status for result in report.report.results] == [Status.CHANGED]
    assert eventually(lambda: any(update.agent_id == "web1" for update in inbox.facts))


def test_a_new_policy_replaces_the_old_one(running: Agent, publisher: Publisher, tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "one\n")}))
    assert eventually(lambda: motd.exists() and motd.read_text() == "one\n")
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "two\n")}))
    assert eventually(lambda: motd.read_text() == "two\n")
    assert running.applied_sequence == 2


def test_a_tampered_bundle_is_refused_and_the_last_good_policy_stays(
        running: Agent, publisher: Publisher, inbox: Inbox, tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "good\n")}))
    assert eventually(lambda: motd.exists() and motd.read_text() == "good\n")
    evil = tmp_path / "evil"
    tampered = tamper(publisher.bundle({"site.p2": file_policy(motd, "good\n")}),
                      publisher.bundle({"site.p2": file_policy(evil, "evil\n")}))
    publisher.put(tampered)
    assert eventually(lambda: any(r.report.results[0].id == "policy:bundle" for r in inbox.runs("policy")))
    refusal = inbox.runs("policy")[-1].report.results[0]
    assert refusal.status is Status.FAILED and "refused" in refusal.summary
    motd.write_text("drifted\n")  # the good policy is still in force: watched and repaired
    assert eventually(lambda: motd.read_text() == "good\n")
    assert not evil.exists()
    assert running.applied_sequence == 1


def test_an_older_bundle_is_refused_as_a_replay(running: Agent, publisher: Publisher, inbox: Inbox,
                                               tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    first = publisher.bundle({"site.p2": file_policy(motd, "first\n")})
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "second\n")}, sequence=5))
    assert eventually(lambda: motd.exists() and motd.read_text() == "second\n")
    publisher.put(first)
    assert eventually(lambda: any("older" in r.report.results[0].summary for r in inbox.runs("policy")))
    assert motd.read_text() == "second\n"


def test_a_bundle_for_another_environment_is_refused(running: Agent, publisher: Publisher, inbox: Inbox,
                                                     tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "x\n")}, environment="staging"))
    assert eventually(lambda: bool(inbox.runs("policy")))
    assert "staging" in inbox.runs("policy")[0].report.results[0].summary
    assert not motd.exists()


def test_drift_is_repaired_and_the_repair_reported(running: Agent, publisher: Publisher, inbox: Inbox,
                                                   tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "kept\n")}))
    assert eventually(lambda: len(inbox.runs("run")) == 1)
    motd.write_text("drifted\n")
    assert eventually(lambda: motd.read_text() == "kept\n")
    assert eventually(lambda: bool(inbox.runs("watch")))
    assert inbox.runs("watch")[0].report.results[0].status is Status.CHANGED


def test_a_control_apply_runs_the_policy_at_once(running: Agent, publisher: Publisher, inbox: Inbox,
                                                 bus: Bus, tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "unwatched\n", watch=False)}))
    assert eventually(lambda: motd.exists())
    motd.write_text("drifted\n")
    bus.publish(subjects.agent_control("web1"), encode(Control(command="apply")))
    assert eventually(lambda: motd.read_text() == "unwatched\n")
    assert eventually(lambda: bool(inbox.runs("control")))


def test_a_policy_that_does_not_compile_is_reported_and_nothing_applied(
        running: Agent, publisher: Publisher, inbox: Inbox, tmp_path: Path) -> None:
    publisher.put(publisher.bundle({"site.p2": "p2.file('/nonexistent', mdoe='0644')\n"}))
    assert eventually(lambda: bool(inbox.runs("run")))
    result = inbox.runs("run")[0].report.results[0]
    assert result.id == "policy:compile" and result.status is Status.FAILED
    assert "site.p2" in result.summary


def test_a_restarted_agent_applies_its_last_policy_without_a_new_bundle(
        env: NatsEnv, publisher: Publisher, inbox: Inbox, tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    config = approved_agent(env, tmp_path / "agent", "web1")
    first = Agent(config)
    first.start()
    publisher.put(publisher.bundle({"site.p2": file_policy(motd, "kept\n")}))
    assert eventually(lambda: motd.exists())
    first.stop()
    motd.write_text("drifted while stopped\n")
    second = Agent(config)
    second.start()
    try:
        assert eventually(lambda: motd.read_text() == "kept\n")
        assert eventually(lambda: len(inbox.runs("start")) == 1)
        assert second.applied_sequence == 1
        assert len(inbox.runs("run")) == 1  # the redelivered bundle 1 is not applied twice
    finally:
        second.stop()


def test_run_once_exit_codes(env: NatsEnv, publisher: Publisher, inbox: Inbox, tmp_path: Path) -> None:
    config = approved_agent(env, tmp_path / "agent", "web1")
    publisher.put(publisher.bundle({"site.p2": file_policy(tmp_path / "ok", "ok\n")}))
    assert Agent(config).run_once(wait=10) == EXIT_OK
    assert (tmp_path / "ok").read_text() == "ok\n"
    assert len(inbox.runs("run")) == 1  # acknowledged before run_once returned
    publisher.put(publisher.bundle({"site.p2": file_policy(tmp_path / "missing" / "f", "x\n")}))
    assert Agent(config).run_once(wait=10) == EXIT_FAILED
    publisher.put(publisher.bundle({"site.p2": "p2.nonsense('x')\n"}))
    assert Agent(config).run_once(wait=10) == EXIT_REFUSED


def test_a_state_dir_others_can_write_is_refused(env: NatsEnv, tmp_path: Path) -> None:
    config = approved_agent(env, tmp_path / "agent", "web1")
    os.chmod(config.state_dir, 0o777)
    with pytest.raises(StateError, match="chmod 700"):
        Agent(config).start()


def test_changed_facts_are_published_at_the_next_run(env: NatsEnv, publisher: Publisher, inbox: Inbox,
                                                     tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text('{"hostname": "web1", "custom": {"rack": "a1"}}')
    agent = Agent(approved_agent(env, tmp_path / "agent", "web1", facts_file=facts))
    agent.start()
    try:
        publisher.put(publisher.bundle({"site.p2": file_policy(tmp_path / "motd", "x\n")}))
        assert eventually(lambda: len(inbox.runs("run")) == 1)
        assert inbox.facts[-1].facts["custom"] == {"rack": "a1"}
        sent = len(inbox.facts)
        agent.apply_now()
        assert eventually(lambda: len(inbox.runs("control")) == 1)
        assert len(inbox.facts) == sent  # unchanged facts are not sent again
        facts.write_text('{"hostname": "web1", "custom": {"rack": "b2"}}')
        agent.apply_now()
        assert eventually(lambda: inbox.facts[-1].facts["custom"] == {"rack": "b2"})
    finally:
        agent.stop()


def test_run_once_without_a_published_policy_says_so(env: NatsEnv, bus: Bus, tmp_path: Path) -> None:
    from partout.errors import PolicyError

    config = approved_agent(env, tmp_path / "agent", "web1")
    with pytest.raises(PolicyError, match="no policy published yet for environment 'production'"):
        Agent(config).run_once(wait=10)


def test_the_master_chooses_which_fact_sections_are_published(running: Agent, inbox: Inbox, bus: Bus) -> None:
    from partout.facts import PUBLISHED_SECTIONS

    assert eventually(lambda: bool(inbox.facts))
    assert set(inbox.facts[-1].facts) == set(PUBLISHED_SECTIONS)  # the default: no packages, no services
    for parameters in ({"sections": "packages"}, {"sections": ["no-such-section", 7]}, {}):
        bus.publish(subjects.agent_control("web1"), encode(Control(command="facts", parameters=parameters)))
    bus.publish(subjects.agent_control("web1"), encode(Control(command="facts",
                                                               parameters={"sections": ["hostname", "services"]})))
    assert eventually(lambda: set(inbox.facts[-1].facts) == {"hostname", "services"})
    # the malformed ones before it changed nothing: two updates in all, the first and this one
    assert len(inbox.facts) == 2
