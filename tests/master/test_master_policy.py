"""The policy publisher: environments compiled against sample facts, signed bundles in the
policy KV with rising sequences, broken policies kept out and their error stored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually
from test_master_support import master_env, write_environment  # noqa: F401

from partout import subjects
from partout.bundle import verify_bundle
from partout.bus.facade import Bus
from partout.bus.messages import BusOptions

__all__ = ["master_env"]


@pytest.fixture
def master(master_env):
    master = master_env.master()
    try:
        yield master
    finally:
        master.stop()


def current_bundle(master: Any, environment: str) -> bytes | None:
    entry = master.bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key(environment)).get(timeout=10)
    return entry.value if entry is not None else None


def test_each_environment_is_published_signed_on_start(master) -> None:
    data = current_bundle(master, "production")
    assert data is not None
    bundle = verify_bundle(data, master_public_key=master.public_key, environment="production", min_sequence=1)
    assert "site.p2" in bundle.manifest.files
    assert master.store.latest_policy_version("production").digest == bundle.digest


def test_an_edit_publishes_a_bundle_with_a_higher_sequence(master_env, master) -> None:
    first = verify_bundle(current_bundle(master, "production"), master_public_key=master.public_key,
                          environment="production", min_sequence=1)
    (master_env.environments / "production" / "site.p2").write_text('p2.file("/tmp/x", content="changed\\n")\n')

    def republished() -> bool:
        data = current_bundle(master, "production")
        return data is not None and verify_bundle(
            data, master_public_key=master.public_key, environment="production", min_sequence=1).sequence > first.sequence

    assert eventually(republished)
    latest = verify_bundle(current_bundle(master, "production"), master_public_key=master.public_key,
                           environment="production", min_sequence=first.sequence + 1)
    assert latest.file("site.p2") == b'p2.file("/tmp/x", content="changed\\n")\n'


def test_a_new_environment_directory_is_published(master_env, master) -> None:
    write_environment(master_env.environments, "staging")
    assert eventually(lambda: current_bundle(master, "staging") is not None)
    assert current_bundle(master, "production") is not None


def test_unchanged_content_is_not_republished_on_restart(master_env, master) -> None:
    before = master.store.latest_policy_version("production").sequence
    master.stop()
    again = master_env.master()
    try:
        assert again.publish_environments() == {"production": None}
        assert again.store.latest_policy_version("production").sequence == before
    finally:
        again.stop()


def test_a_broken_policy_is_not_published_and_its_error_is_stored_with_file_and_line(master_env, master) -> None:
    published = current_bundle(master, "production")
    site = master_env.environments / "production" / "site.p2"
    site.write_text('p2.file("/tmp/ok", content="x")\np2.no_such_directive("oops")\n')
    assert eventually(lambda: master.store.policy_errors("production") != [])
    error = master.store.policy_errors("production")[0]
    assert error.file is not None and error.file.endswith("site.p2") and error.line == 2
    assert current_bundle(master, "production") == published


def test_an_agent_can_read_its_environment_policy_only(master_env, master, tmp_path: Path) -> None:
    # what an approved agent's permissions allow, checked through the master's own callout
    import json

    from test_master_support import connect_as, enrol, new_agent_key

    write_environment(master_env.environments, "staging")
    assert eventually(lambda: current_bundle(master, "staging") is not None)
    agent = new_agent_key(tmp_path)
    enrol(master_env.urls, agent, hostname="web-1")
    agent_id = master.store.approve(agent.public, "production").agent_id
    stream = f"KV_{subjects.POLICY_BUCKET}"

    async def read(environment: str) -> bytes | None:
        """The environment's policy by a direct get, as partout.agent.feed reads it."""
        connection = await connect_as(master_env.urls, agent, agent_id)
        try:
            api = f"$JS.API.DIRECT.GET.{stream}.{subjects.policy_kv_subject(environment)}"
            return (await connection.request(api, b"", timeout=0.5)).data
        except Exception:
            return None
        finally:
            await connection.close()

    async def follow_with_a_consumer(environment: str) -> bytes | None:
        """A consumer on the policy stream, unfiltered or filtered: agents may create neither."""
        connection = await connect_as(master_env.urls, agent, agent_id)
        try:
            inbox = f"{subjects.inbox_prefix(agent_id)}.policy"
            subscription = await connection.subscribe(inbox)
            key_subject = subjects.policy_kv_subject(environment)
            config = {"name": "test", "deliver_subject": inbox, "deliver_policy": "last_per_subject",
                      "ack_policy": "none", "filter_subject": key_subject, "mem_storage": True}
            for api in (f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.API.CONSUMER.CREATE.{stream}.test.{key_subject}"):
                try:
                    await connection.request(api, json.dumps({"stream_name": stream, "config": config}).encode(),
                                             timeout=0.5)
                except Exception:
                    continue  # refused: try the other form
            return (await subscription.next_msg(timeout=2)).data
        except Exception:
            return None
        finally:
            await connection.close()

    assert asyncio.run(read("production")) == current_bundle(master, "production")
    assert asyncio.run(read("staging")) is None
    assert asyncio.run(follow_with_a_consumer("production")) is None
    assert asyncio.run(follow_with_a_consumer("staging")) is None
