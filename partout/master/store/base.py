"""The records the master keeps and the `Store` interface every backend implements.

The interface speaks in records and keys, never in SQL, so that the SQLite backend
and a document store such as ArangoDB (python-arango) fit behind it alike. Methods
are synchronous: the master calls them from its store-writer actor's thread."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from partout.errors import PartoutError
from partout.events.rollup import RetentionPolicy
from partout.events.wire import EventBatch, NodeEvent
from partout.master.store.event_records import EventCount, EventQuery, RollupSummary
from partout.report import Report

if TYPE_CHECKING:  # integrations.py builds on this module's StoreError
    from partout.master.store.integrations import IntegrationRecord, IntegrationRole
    from partout.master.store.trigger_records import TriggerQuery, TriggerRecord
    from partout.inventory import Answer, Query


class StoreError(PartoutError):
    """The store cannot be opened, is from a newer Partout, or refused an operation."""


class AgentNotFound(StoreError):
    """No agent has this id, public key or hostname."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no agent {key!r}; see `partout agents list`")


class AgentStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REVOKED = "revoked"


def utc_now() -> datetime:
    return datetime.now(UTC)


def facts_digest(facts: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `facts`: equal facts give equal digests."""
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AgentRecord(BaseModel):
    """One agent, one nkey. Before approval it has no agent_id and is known by its key."""

    model_config = ConfigDict(frozen=True)

    public_key: str = Field(description="The agent's public user nkey ('U...'); unique.")
    agent_id: str | None = Field(None, description="UUID assigned at approval.")
    hostname: str = ""
    status: AgentStatus = AgentStatus.PENDING
    environment: str | None = None
    enrolled_at: datetime
    approved_at: datetime | None = None
    revoked_at: datetime | None = None
    last_seen: datetime | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    facts_hash: str = ""

    @property
    def key(self) -> str:
        """The agent_id once approved, the public key before."""
        return self.agent_id or self.public_key


class ReportRecord(BaseModel):
    """A run report as received from an agent; report_id makes redelivery harmless."""

    model_config = ConfigDict(frozen=True)

    report_id: str
    agent_id: str
    policy_digest: str = Field("", description="Digest of the bundle manifest the run applied.")
    started_at: datetime
    received_at: datetime
    duration: float
    counts: dict[str, int] = Field(description="Number of results per status.")
    report: Report


class EnrolmentLogEntry(BaseModel):
    """One enrolment attempt, kept whatever its outcome (refusals included)."""

    model_config = ConfigDict(frozen=True)

    time: datetime = Field(default_factory=utc_now)
    public_key: str
    hostname: str = ""
    outcome: str = Field(description="pending, approved, refused, revoked ...")
    reason: str = ""


class PolicyErrorRecord(BaseModel):
    """A policy that did not compile and so was not published."""

    model_config = ConfigDict(frozen=True)

    environment: str
    message: str
    file: str | None = None
    line: int | None = None
    time: datetime = Field(default_factory=utc_now)


class PolicyVersion(BaseModel):
    """A bundle the master published for an environment."""

    model_config = ConfigDict(frozen=True)

    environment: str
    sequence: int
    digest: str
    published_at: datetime = Field(default_factory=utc_now)


InventoryScope = Literal["environment", "all"]


class DependencyRecord(BaseModel):
    """An agent's policy asked this inventory query (`p2.nodes`) and got an answer with this
    digest. One record per (agent, query, fields, scope); `changed_at` is when the answer it
    got last differed from the one before."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    query: str = Field(description="The query's canonical text (partout.inventory Query.canonical).")
    fields: tuple[str, ...] = ()
    scope: InventoryScope = "environment"
    environment: str | None = Field(None, description="The agent's environment when it asked.")
    digest: str = Field(description="sha256 of the answer's rows, as the agent got them.")
    compile_id: str = Field("", description="The compile that asked: a newer one makes the others stale.")
    asked_at: datetime = Field(default_factory=utc_now)
    changed_at: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """What the master persists. Every backend passes tests/master/test_store_contract.py.

    `key` arguments accept an agent_id or a public key; unknown ones raise AgentNotFound."""

    # agents
    def upsert_pending(self, public_key: str, hostname: str, facts: dict[str, Any]) -> AgentRecord:
        """Record an enrolment request. A new key becomes pending; a known key gets its
        hostname, facts and last_seen refreshed and keeps its status (a revoked agent
        stays revoked: revocation is final for that key)."""
        ...

    def approve(self, key: str, environment: str) -> AgentRecord:
        """Approve into `environment` (or move an approved agent there); assigns a UUID
        agent_id on first approval. A revoked agent cannot be approved: StoreError."""
        ...

    def revoke(self, key: str) -> AgentRecord: ...

    def get_agent(self, key: str) -> AgentRecord | None: ...

    def agent_by_public_key(self, public_key: str) -> AgentRecord | None: ...

    def agents(self, status: AgentStatus | str | None = None, environment: str | None = None) -> list[AgentRecord]:
        """Agents in enrolment order, optionally only one status and/or environment."""
        ...

    def touch(self, key: str, time: datetime | None = None) -> None:
        """Set last_seen (now by default)."""
        ...

    def put_facts(self, key: str, facts: dict[str, Any]) -> bool:
        """Store facts and their hash; True when they differ from the stored ones."""
        ...

    # reports
    def add_report(self, agent_id: str, report: Report, *, report_id: str, policy_digest: str = "") -> bool:
        """Store a run report. Idempotent by report_id: a redelivered message stores
        nothing and returns False; True when newly stored."""
        ...

    def get_report(self, report_id: str) -> ReportRecord | None: ...

    def reports(self, agent_id: str, limit: int = 20) -> list[ReportRecord]:
        """Newest first (by started_at)."""
        ...

    def prune_reports(self, keep_per_agent: int = 100) -> int:
        """Delete all but each agent's newest `keep_per_agent` reports; returns how many
        went. (A pruned report redelivered later would be stored again: prune old ones.)"""
        ...

    # enrolment log
    def log_enrolment(self, entry: EnrolmentLogEntry) -> None: ...

    def enrolments(self, limit: int = 100) -> list[EnrolmentLogEntry]:
        """Newest first."""
        ...

    # policies
    def record_policy_error(self, error: PolicyErrorRecord) -> None: ...

    def policy_errors(self, environment: str | None = None, limit: int = 20) -> list[PolicyErrorRecord]:
        """Newest first."""
        ...

    def record_policy_version(self, version: PolicyVersion) -> None:
        """Idempotent by (environment, sequence)."""
        ...

    def latest_policy_version(self, environment: str) -> PolicyVersion | None:
        """The highest sequence published for `environment`."""
        ...

    # integrations (store/integrations.py)
    def add_integration(self, name: str, role: IntegrationRole, public_key: str) -> IntegrationRecord:
        """Register an integration; IntegrationExists when the name is taken by one not
        removed, or the key was ever registered."""
        ...

    def integrations(self, *, removed: bool = False) -> list[IntegrationRecord]:
        """Integrations in the order they were added; removed ones too when `removed`."""
        ...

    def integration_by_public_key(self, public_key: str) -> IntegrationRecord | None:
        """The integration of a key, removed ones included (the callout refuses those)."""
        ...

    def remove_integration(self, name: str) -> IntegrationRecord:
        """Mark the integration named `name` removed; IntegrationNotFound when there is none."""
        ...

    # triggers (see trigger_records.py)
    def record_trigger(self, trigger: TriggerRecord) -> bool:
        """Keep a trigger routed or refused; idempotent by trigger_id (False: already kept)."""
        ...

    def triggers(self, query: TriggerQuery) -> list[TriggerRecord]:
        """Newest received first."""
        ...

    # events (see event_records.py)
    def add_event_batch(self, batch: EventBatch, *, received_at: datetime, retention: RetentionPolicy) -> bool:
        """Store a batch's leaves as raw events. Idempotent by batch_id: a redelivered batch
        stores nothing and returns False. Rolls up first when a retention cut moved since the
        last roll-up (`received_at` is the master's now)."""
        ...

    def events(self, query: EventQuery) -> list[NodeEvent]:
        """Raw events (still within the raw retention), newest received first."""
        ...

    def event_counts(self, query: EventQuery) -> list[EventCount]:
        """Counts of every tier, raw ones summed per receive time, oldest first (`limit` ignored:
        buckets are few)."""
        ...

    def roll_up_events(self, now: datetime, retention: RetentionPolicy) -> RollupSummary:
        """Move counts to the tier their age calls for, delete what expired, prune old reports
        (each agent keeps its newest) and old batch ids."""
        ...

    # inventory (partout.inventory queries over agents' metadata and facts)
    def inventory(self, query: Query, fields: Sequence[str] | None = None, *, environment: str | None = None,
                  status: AgentStatus | str | None = None) -> Answer:
        """The agents `query` matches (within `environment` and `status` when given), sorted
        by hostname then id, each as its chosen `fields` (or its whole inventory document),
        with a warning per fact the query names that no agent in scope has."""
        ...

    def record_dependency(self, dependency: DependencyRecord) -> DependencyRecord:
        """Remember that an agent asked a query and what it got (upsert by agent, query,
        fields and scope). `changed_at` becomes `asked_at` when the digest differs from the
        stored one (or none was stored). A record of another compile_id of the same agent
        is stale (the agent compiled anew) and is deleted."""
        ...

    def dependencies(self, agent_id: str | None = None) -> list[DependencyRecord]:
        """What agents' policies depend on (one agent's, or everyone's), by agent then query."""
        ...

    def forget_dependencies(self, agent_id: str) -> int:
        """The agent's policy no longer asks anything: delete its records; how many went."""
        ...

    def close(self) -> None: ...


def report_counts(report: Report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in report.results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    return counts


MIN_PREFIX = 4


class AmbiguousAgent(StoreError):
    """Several agents answer to what the operator typed; the message lists them."""

    def __init__(self, text: str, what: str, candidates: list[AgentRecord]) -> None:
        self.candidates = candidates
        listed = "; ".join(f"{agent.agent_id or '-'} key {agent.public_key} hostname {agent.hostname!r} "
                           f"({agent.status})" for agent in candidates)
        super().__init__(f"{text!r} matches several agents {what}: {listed}; give more of the id or key")


def match_agent(store: Store, text: str) -> tuple[AgentRecord, str]:
    """Find the agent an operator means, and how it was matched: "id", "public key",
    "id prefix", "key prefix" or "hostname".

    Ids and keys come first, as they come from the master and the agent's own key pair;
    a hostname is only the agent's claim, so it is tried last and only when no id or key
    starts with `text`, and taken only when exactly one agent claims it: a rogue that
    enrols with a real agent's id prefix as its hostname cannot be picked instead of it.
    Raises AgentNotFound, or AmbiguousAgent listing the candidates."""
    if (exact := store.get_agent(text)) is not None:
        return exact, "id" if exact.agent_id == text else "public key"
    everyone = store.agents()
    if len(text) >= MIN_PREFIX:
        by_id = [agent for agent in everyone if (agent.agent_id or "").startswith(text)]
        by_key = [agent for agent in everyone if agent.public_key.startswith(text)]
        prefixed = by_id + [agent for agent in by_key if agent not in by_id]
        if len(prefixed) > 1:
            raise AmbiguousAgent(text, "by id or key prefix", prefixed)
        if prefixed:
            return prefixed[0], "id prefix" if by_id else "key prefix"
    named = [agent for agent in everyone if agent.hostname == text]
    if len(named) > 1:
        raise AmbiguousAgent(text, "by hostname", named)
    if named:
        return named[0], "hostname"
    raise AgentNotFound(text)


def resolve_agent(store: Store, text: str) -> AgentRecord:
    """The agent `match_agent` finds."""
    return match_agent(store, text)[0]
