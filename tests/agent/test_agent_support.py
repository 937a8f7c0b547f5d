"""Fixtures for agent tests without a master: a secured backbone whose static callout
table knows the agent, an approval written into the agent's state as the master would,
and a publisher that signs bundles with the backbone's master key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from natsenv import NatsEnv

from partout import subjects
from partout.agent.config import AgentConfig
from partout.agent.identity import AgentIdentity
from partout.bundle import build_bundle
from partout.nats import permissions
from partout.bus.facade import Bus
from partout.nats.permissions import Role
from partout.wire import decode
from partout.wire.fleet import FactsUpdate, RunReport

ENVIRONMENT = "production"


@dataclass
class Inbox:
    """What the agents published, as the master would receive it."""

    reports: list[RunReport] = field(default_factory=list)
    facts: list[FactsUpdate] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, message: Any) -> None:
        with self.lock:
            if message.subject.endswith(".report"):
                report = decode(RunReport, message.data)
                if report is not None:
                    self.reports.append(report)
            elif message.subject.endswith(".facts"):
                update = decode(FactsUpdate, message.data)
                if update is not None:
                    self.facts.append(update)

    def runs(self, trigger: str | None = None) -> list[RunReport]:
        with self.lock:
            return [r for r in self.reports if trigger is None or r.report.trigger == trigger]


class Publisher:
    """Signs an environment folder and puts it in the policy KV, like the master."""

    def __init__(self, env: NatsEnv, bus: Bus, root: Path) -> None:
        self.env = env
        self.bus = bus
        self.root = root
        self.sequence = 0

    def bundle(self, files: dict[str, str], *, environment: str = ENVIRONMENT, sequence: int | None = None) -> bytes:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        folder = self.root / f"env-{environment}-{sequence}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        return build_bundle(folder, environment=environment, signing_seed=self.env.backbone.keys.master.seed(),
                            sequence=sequence)

    def put(self, data: bytes, *, environment: str = ENVIRONMENT) -> None:
        self.bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key(environment), data).get(timeout=10)


def file_policy(path: Path, content: str, *, watch: bool = True) -> str:
    return f"p2.file({str(path)!r}, content={content!r}, watch={watch})\n"


def approved_agent(env: NatsEnv, state_dir: Path, agent_id: str, *, environment: str = ENVIRONMENT,
                   **options: Any) -> AgentConfig:
    """An agent state dir approved as the master would leave it, known to the callout."""
    identity = AgentIdentity.load_or_create(state_dir)
    identity.record_approval(agent_id, environment)
    identity.pin_master_key(env.master.public)
    env.table[identity.public_key] = (Role.AGENT, permissions.agent(agent_id, environment, identity.public_key))
    fields: dict[str, Any] = dict(servers=tuple(env.urls), state_dir=state_dir, hostname=agent_id,
                                  facts_file=None, interval=3600)
    fields.update(options)
    return AgentConfig(**fields)


def master_bus(env: NatsEnv, inbox: Inbox) -> Iterator[Bus]:
    bus = Bus.start(env.bus_options())
    try:
        bus.ensure_streams().get(timeout=30)
        bus.subscribe(subjects.AGENT_REPORTS_ALL, inbox.receive).get(timeout=10)
        bus.subscribe(subjects.AGENT_FACTS_ALL, inbox.receive).get(timeout=10)
        yield bus
    finally:
        bus.stop()


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def tamper(signed: bytes, other: bytes) -> bytes:
    """`signed`'s manifest and signature around `other`'s archive: what an attacker who
    can write the KV but not sign would send."""
    envelope = json.loads(signed)
    envelope["archive"] = json.loads(other)["archive"]
    return json.dumps(envelope).encode()
