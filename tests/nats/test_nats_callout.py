"""The auth callout with a real nats-server: who gets in, and what an agent may touch."""

from __future__ import annotations

from pathlib import Path

import nats
import nkeys
import pytest
from natsenv import NatsEnv, secured_backbone

from partout import subjects
from partout.bus.connection import round_trip
from partout.master.supervisor import Ready
from partout.nats import permissions
from partout.nats.permissions import Role
from partout.state import read_secret


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    with secured_backbone(tmp_path) as running:
        yield running


async def _connect(env: NatsEnv, seed_file: Path, **options: object) -> nats.aio.client.Client:
    return await nats.connect(env.urls, nkeys_seed_str=read_secret(seed_file).decode().strip(),
                              allow_reconnect=False, connect_timeout=2, **options)


async def test_the_master_identity_is_let_in(env: NatsEnv) -> None:
    connection = await _connect(env, env.master.seed_file)
    assert connection.is_connected
    await connection.close()


async def test_a_client_with_an_unknown_nkey_is_refused(env: NatsEnv) -> None:
    stranger = env.identity(None)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await _connect(env, stranger.seed_file)
    assert env.requests[-1].public_key == stranger.public


async def test_a_client_without_an_nkey_is_refused(env: NatsEnv) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(env.urls, allow_reconnect=False, connect_timeout=2)


async def test_an_agent_cannot_publish_to_another_agents_subjects(env: NatsEnv) -> None:
    agent = env.identity(Role.AGENT, permissions.agent("web1", "prod"), inbox="web1")
    master = await _connect(env, env.master.seed_file)
    watched = await master.subscribe("partout.>")
    await round_trip(master)
    errors: list[Exception] = []

    async def collect(error: Exception) -> None:
        errors.append(error)

    connection = await _connect(env, agent.seed_file, inbox_prefix=agent.inbox_prefix, error_cb=collect)
    await connection.publish(subjects.agent_events("web2"), b"forged")
    await connection.publish(subjects.agent_events("web1"), b"mine")
    await round_trip(connection)
    received = await watched.next_msg(timeout=2)
    assert received.subject == subjects.agent_events("web1")
    assert any('permissions violation for publish to "partout.agent.web2.events"' in str(e) for e in errors)
    with pytest.raises(nats.errors.TimeoutError):
        await watched.next_msg(timeout=0.2)
    await connection.close()
    await master.close()


async def test_an_agent_cannot_subscribe_to_all_partout_subjects(env: NatsEnv) -> None:
    agent = env.identity(Role.AGENT, permissions.agent("web1", "prod"), inbox="web1")
    errors: list[Exception] = []

    async def collect(error: Exception) -> None:
        errors.append(error)

    connection = await _connect(env, agent.seed_file, inbox_prefix=agent.inbox_prefix, error_cb=collect)
    await connection.subscribe("partout.>")
    await connection.subscribe(subjects.agent_control("web2"))
    await round_trip(connection)
    await round_trip(connection)
    texts = [str(error) for error in errors]
    assert 'nats: permissions violation for subscription to "partout.>"' in texts
    assert 'nats: permissions violation for subscription to "partout.agent.web2.control"' in texts
    await connection.close()


async def test_an_agent_can_request_enrolment_and_read_the_reply_in_its_own_inbox(env: NatsEnv) -> None:
    pending = env.identity(Role.PENDING, permissions.pending("new1"), inbox="new1")
    master = await _connect(env, env.master.seed_file)

    async def answer(message: nats.aio.msg.Msg) -> None:
        await message.respond(b"pending")

    await master.subscribe(subjects.ENROL_ALL, cb=answer)
    await round_trip(master)
    connection = await _connect(env, pending.seed_file, inbox_prefix=pending.inbox_prefix)
    reply = await connection.request(subjects.enrol("new1"), b"hello", timeout=2)
    assert reply.data == b"pending"
    await connection.close()
    await master.close()


def test_a_client_claiming_a_known_nkey_without_its_seed_is_refused(env: NatsEnv) -> None:
    import base64
    import json
    import socket

    host, port = env.urls[0].removeprefix("nats://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        stream = connection.makefile("rwb")
        info = json.loads(stream.readline().decode().removeprefix("INFO "))
        assert info["nonce"]
        forged = base64.b64encode(b"\x00" * 64).decode()
        options = {"verbose": False, "pedantic": False, "nkey": env.master.public, "sig": forged,
                   "protocol": 1, "lang": "test", "version": "0"}
        stream.write(f"CONNECT {json.dumps(options)}\r\nPING\r\n".encode())
        stream.flush()
        answer = stream.readline().decode()
    assert "Authorization Violation" in answer
    assert env.requests == []  # refused by the responder before the table was consulted


def test_junk_on_the_callout_subject_neither_answers_nor_stops_the_responder(env: NatsEnv) -> None:
    import asyncio

    from partout.bus.messages import BusMessage
    from partout.nats import jwt
    from partout.nats.jwt import create_key

    # what only a server can send (the AUTH account has the callout user alone), delivered as
    # the bus would: not a JWT, a JWT whose claims have the wrong shapes, one with no signature
    signer = create_key(nkeys.PREFIX_BYTE_ACCOUNT)
    weird = jwt.encode({"nats": {"connect_opts": ["not", "a", "map"], "client_info": 7}}, signer)
    for data in (b"\xff not a jwt", weird.encode(), jwt.encode({"nats": {}}, signer).encode()):
        env.responder.tell(BusMessage(subjects.AUTH_CALLOUT, data, reply=""))
    assert env.responder.ask(Ready(), timeout=10) is True
    pending = env.identity(Role.PENDING, permissions.pending("new2"), inbox="new2")

    async def admitted() -> bool:
        connection = await _connect(env, pending.seed_file, inbox_prefix=pending.inbox_prefix)
        try:
            return bool(connection.is_connected)
        finally:
            await connection.close()

    assert asyncio.run(admitted())
