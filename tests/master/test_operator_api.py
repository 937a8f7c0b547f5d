"""The operator API through partout.operator.OperatorClient: list, approve (then the callout
grants the agent its own permissions), revoke (its live connection is closed and it is
refused from then on), and requests from keys that are not operators are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers import eventually, eventually_async
from test_master_support import connect_as, enrol, master_env, new_agent_key, running_master  # noqa: F401

from partout import subjects
from partout.bus.connection import round_trip
from partout.operator import OperatorClient, OperatorError, default_key_file

__all__ = ["master_env", "running_master"]


@pytest.fixture
def operator(running_master):
    env, _master = running_master
    client = OperatorClient.connect(env.urls, key_file=default_key_file(env.nats_state), timeout=5)
    try:
        yield client
    finally:
        client.close()


def test_operator_lists_pending_agents_and_approves_one(running_master, operator, tmp_path: Path) -> None:
    env, _master = running_master
    agent = new_agent_key(tmp_path)
    enrol(env.urls, agent, hostname="web-9")
    pending = operator.agents(status="pending")
    assert [entry["public_key"] for entry in pending] == [agent.public]
    approved = operator.approve(agent.public[:10], environment="staging")
    assert approved["status"] == "approved" and approved["environment"] == "staging"
    reply = enrol(env.urls, agent, hostname="web-9")
    assert reply is not None and reply.status == "approved" and reply.agent_id == approved["agent_id"]
    assert operator.agents(status="pending") == []


def test_an_approved_agent_may_publish_its_own_subjects_only(running_master, operator, tmp_path: Path) -> None:
    env, _master = running_master
    agent = new_agent_key(tmp_path)
    enrol(env.urls, agent, hostname="web-3")
    agent_id = operator.approve(agent.public)["agent_id"]
    errors: list[Exception] = []

    async def run() -> None:
        async def on_error(error: Exception) -> None:
            errors.append(error)

        connection = await connect_as(env.urls, agent, agent_id, error_cb=on_error)
        try:
            await connection.publish(subjects.agent_facts(agent_id), b"{}")
            await round_trip(connection)
            assert errors == []
            await connection.publish(subjects.agent_facts("someone-else"), b"{}")
            await round_trip(connection)
            # the server's -ERR reaches error_cb on a task of its own: wait for it, not a fixed time
            await eventually_async(lambda: any("permissions violation" in str(error).lower() for error in errors))
        finally:
            await connection.close()

    asyncio.run(run())
    assert any("permissions violation" in str(error).lower() for error in errors)


def test_a_revoked_agent_is_disconnected_and_refused_from_then_on(running_master, operator, tmp_path: Path) -> None:
    env, _master = running_master
    agent = new_agent_key(tmp_path)
    enrol(env.urls, agent, hostname="auto-5")  # approved by the hostname rule
    agent_id = operator.show(agent.public)["agent_id"]
    closed = asyncio.Event()

    async def run() -> None:
        async def on_closed() -> None:
            closed.set()

        connection = await connect_as(env.urls, agent, agent_id, closed_cb=on_closed)
        loop = asyncio.get_running_loop()
        revoked = await loop.run_in_executor(None, operator.revoke, agent_id)
        assert revoked["status"] == "revoked" and revoked["disconnected"] == 1
        await asyncio.wait_for(closed.wait(), timeout=5)
        assert connection.is_closed
        with pytest.raises(Exception, match="(?i)authorization"):
            await connect_as(env.urls, agent, agent_id)

    asyncio.run(run())
    assert operator.show(agent_id)["status"] == "revoked"


def test_a_key_that_is_not_an_operator_key_is_refused(running_master, tmp_path: Path) -> None:
    env, _master = running_master
    # a pending agent's key: it may not even publish to the master API
    impostor = new_agent_key(tmp_path, "impostor")
    client = OperatorClient.connect(env.urls, key_file=impostor.seed_file, timeout=1)
    try:
        with pytest.raises(OperatorError):
            client.agents()
    finally:
        client.close()


def test_the_master_checks_the_operator_key_itself(running_master, tmp_path: Path) -> None:
    env, master = running_master
    from partout.master.operator_api import OperatorApiActor
    from partout.wire import encode
    from partout.wire.fleet import OperatorRequest

    impostor = new_agent_key(tmp_path, "impostor")
    request = OperatorRequest(public_key=impostor.public, verb="agents.list").signed_by(impostor.key_pair)
    api = OperatorApiActor(master.bus, master.store, operator_keys=master.operator_keys, kicker=None,
                           default_environment="production")
    reply = api.answer(encode(request))
    assert not reply.ok and "not an operator key" in reply.error
    assert eventually(lambda: master.bus.stats().get(timeout=5).state == "connected")


def test_agent_credentials_expire_so_a_revocation_holds_even_without_a_kick(master_env, tmp_path: Path) -> None:
    from partout.master.config import AutoApproveRule

    master = master_env.master(agent_credentials_ttl=1.0, auto_approve=(AutoApproveRule(hostname="auto-*"),))
    try:
        agent = new_agent_key(tmp_path)
        agent_id = enrol(master_env.urls, agent, hostname="auto-2").agent_id
        closed = asyncio.Event()

        async def run() -> None:
            async def on_closed() -> None:
                closed.set()

            connection = await connect_as(master_env.urls, agent, agent_id, closed_cb=on_closed)
            await asyncio.wait_for(closed.wait(), timeout=5)
            assert connection.is_closed

        asyncio.run(run())
    finally:
        master.stop()


def test_a_waiting_agent_hears_of_its_approval_on_its_pending_inbox(running_master, operator, tmp_path: Path) -> None:
    from partout.master.operator_api import approval_subject
    from partout.wire import decode
    from partout.wire.fleet import EnrolReply

    env, master = running_master
    agent = new_agent_key(tmp_path)
    enrol(env.urls, agent, hostname="web-5")

    async def run() -> EnrolReply | None:
        connection = await connect_as(env.urls, agent)  # still the pending identity
        try:
            subscription = await connection.subscribe(approval_subject(agent.public))
            await round_trip(connection)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, operator.approve, agent.public)
            return decode(EnrolReply, (await subscription.next_msg(timeout=5)).data)
        finally:
            await connection.close()

    reply = asyncio.run(run())
    assert reply is not None and reply.status == "approved" and reply.agent_id
    assert reply.master_public_key == master.public_key and reply.environment == "production"


def test_apply_now_sends_the_agent_a_control_message(running_master, operator, tmp_path: Path) -> None:
    from partout.wire import decode
    from partout.wire.fleet import Control

    env, _master = running_master
    agent = new_agent_key(tmp_path)
    agent_id = enrol(env.urls, agent, hostname="auto-3").agent_id

    async def run() -> Control | None:
        connection = await connect_as(env.urls, agent, agent_id)
        try:
            subscription = await connection.subscribe(subjects.agent_control(agent_id))
            await round_trip(connection)
            await asyncio.get_running_loop().run_in_executor(None, operator.apply_now, agent_id)
            return decode(Control, (await subscription.next_msg(timeout=5)).data)
        finally:
            await connection.close()

    control = asyncio.run(run())
    assert control is not None and control.command == "apply"
    pending = new_agent_key(tmp_path, "pending")
    enrol(env.urls, pending, hostname="web-1")
    with pytest.raises(OperatorError, match="pending"):
        operator.apply_now(pending.public)


def test_an_environment_name_unfit_for_a_subject_is_refused(running_master, operator, tmp_path: Path) -> None:
    env, _master = running_master
    agent = new_agent_key(tmp_path)
    enrol(env.urls, agent, hostname="web-8")
    with pytest.raises(OperatorError, match="environment"):
        operator.approve(agent.public, environment="prod.eu")
    assert operator.show(agent.public)["status"] == "pending"
