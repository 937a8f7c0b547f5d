"""Shared fixtures of the master tests (imported by test_master_*.py / test_operator_*.py):
a secured partout-nats backbone WITHOUT a static callout responder (the master under test
answers the callout itself), a master on it, and agent-side helpers speaking the protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys
import pytest

from partout import subjects
from partout.master.config import AutoApproveRule, MasterConfig
from partout.master.daemon import Master
from partout.nats.jwt import create_key
from partout.nats.launcher import Backbone, start_backbone
from partout.state import write_secret
from partout.wire import decode, encode
from partout.wire.fleet import EnrolReply, EnrolRequest

SITE = 'p2.file("/tmp/partout-master-test-{name}", content="hello {name}\\n")\n'


@dataclass
class AgentKey:
    key_pair: Any
    seed_file: Path

    @property
    def public(self) -> str:
        return str(self.key_pair.public_key.decode("ascii"))

    @property
    def seed(self) -> str:
        return str(self.key_pair.seed.decode("ascii"))


def new_agent_key(directory: Path, name: str = "agent") -> AgentKey:
    key = create_key(nkeys.PREFIX_BYTE_USER)
    pair = nkeys.from_seed(bytearray(key.seed))
    path = directory / f"{name}-{pair.public_key.decode()[:8]}.nk"
    write_secret(path, bytes(key.seed) + b"\n")
    return AgentKey(pair, path)


def write_environment(root: Path, name: str, site: str | None = None) -> Path:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "site.p2").write_text(site if site is not None else SITE.format(name=name))
    return directory


def enrol_request(agent: AgentKey, hostname: str = "web-1", token: str | None = None,
                  facts: dict[str, Any] | None = None) -> bytes:
    request = EnrolRequest(public_key=agent.public, hostname=hostname, token=token, facts=facts or {"os": "linux"})
    return encode(request.signed_by(agent.key_pair))


async def connect_as(urls: list[str], agent: AgentKey, identity: str | None = None, **options: Any) -> Any:
    import nats

    return await nats.connect(urls, nkeys_seed_str=agent.seed, inbox_prefix=subjects.inbox_prefix(identity or agent.public),
                              max_reconnect_attempts=0, connect_timeout=2, allow_reconnect=False, **options)


def enrol(urls: list[str], agent: AgentKey, data: bytes | None = None, **request: Any) -> EnrolReply | None:
    """Connect as the agent (pending identity), send one enrolment request, return the reply."""

    async def run() -> EnrolReply | None:
        connection = await connect_as(urls, agent)
        try:
            reply = await connection.request(subjects.enrol(agent.public), data if data is not None else enrol_request(agent, **request),
                                             timeout=5)
            return decode(EnrolReply, reply.data)
        finally:
            await connection.close()

    return asyncio.run(run())


@dataclass
class MasterEnv:
    backbone: Backbone
    directory: Path
    environments: Path

    @property
    def urls(self) -> list[str]:
        return self.backbone.urls

    @property
    def nats_state(self) -> Path:
        return self.backbone.state_dir

    def config(self, **overrides: Any) -> MasterConfig:
        fields: dict[str, Any] = dict(
            nats_urls=tuple(self.urls), nats_state=self.nats_state, state_dir=self.directory / "master",
            environments=self.environments, sample_facts=self.directory / "facts.json", debounce=0.05,
            report_ack_wait=1.0,
        )
        fields.update(overrides)
        return MasterConfig(**fields)

    def master(self, **overrides: Any) -> Master:
        return Master(self.config(**overrides)).start()


@pytest.fixture
def master_env(tmp_path: Path) -> Iterator[MasterEnv]:
    backbone = start_backbone(tmp_path / "nats", port=0, log_to_files=True)
    environments = tmp_path / "environments"
    write_environment(environments, "production")
    (tmp_path / "facts.json").write_text('{"hostname": "master-test", "fqdn": "master-test.example"}')
    try:
        yield MasterEnv(backbone, tmp_path, environments)
    finally:
        backbone.stop()


@pytest.fixture
def running_master(master_env: MasterEnv) -> Iterator[tuple[MasterEnv, Master]]:
    master = master_env.master(auto_approve=(
        AutoApproveRule(hostname="auto-*", environment="production"),
        AutoApproveRule(token="secret-enrolment-token", environment="staging"),
    ))
    try:
        yield master_env, master
    finally:
        master.stop()
