"""Agents in ArangoDB: one document per public key (`_key` = document_key(public key)).

Each change is one AQL statement whose FILTER holds its precondition, so that two
masters sharing the database cannot, say, approve an agent the other just revoked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from partout.master.store.arango.aql import RETRIES, Query, QueryRunner
from partout.master.store.arango.documents import plain_json, record, stored_time
from partout.master.store.arango.schema import document_key
from partout.master.store.base import AgentNotFound, AgentRecord, AgentStatus, StoreError, facts_digest, utc_now

FIND = Query("""
FOR agent IN @@agents
  FILTER agent._key == @document_key OR agent.agent_id == @key
  LIMIT 1
  RETURN agent
""")

BY_PUBLIC_KEY = Query("""
FOR agent IN @@agents
  FILTER agent._key == @document_key
  RETURN agent
""")

UPSERT_PENDING = Query("""
UPSERT { _key: @document_key }
  INSERT {
    _key: @document_key, public_key: @public_key, agent_id: null, hostname: @hostname, status: @pending,
    environment: null, enrolled_at: @now, approved_at: null, revoked_at: null, last_seen: @now,
    facts: @facts, facts_hash: @facts_hash
  }
  UPDATE { hostname: @hostname, last_seen: @now, facts: @facts, facts_hash: @facts_hash }
  IN @@agents OPTIONS { mergeObjects: false }
  RETURN NEW
""")

APPROVE = Query("""
FOR agent IN @@agents
  FILTER agent._key == @document_key AND agent.status != @revoked
  UPDATE agent WITH {
    status: @approved, environment: @environment,
    agent_id: NOT_NULL(agent.agent_id, @new_agent_id), approved_at: NOT_NULL(agent.approved_at, @now)
  } IN @@agents
  RETURN NEW
""")

REVOKE = Query("""
FOR agent IN @@agents
  FILTER agent._key == @document_key
  UPDATE agent WITH { status: @revoked, revoked_at: agent.status == @revoked ? agent.revoked_at : @now } IN @@agents
  RETURN NEW
""")

LIST = Query("""
FOR agent IN @@agents
  FILTER @status == null OR agent.status == @status
  FILTER @environment == null OR agent.environment == @environment
  SORT agent.enrolled_at, agent._key
  RETURN agent
""")

TOUCH = Query("""
FOR agent IN @@agents
  FILTER agent._key == @document_key OR agent.agent_id == @key
  LIMIT 1
  UPDATE agent WITH { last_seen: @time } IN @@agents
  RETURN NEW._key
""")

# Compare-and-set on the facts hash read just before.
PUT_FACTS = Query("""
FOR agent IN @@agents
  FILTER agent._key == @document_key AND agent.facts_hash == @read_hash
  UPDATE agent WITH { facts: @facts, facts_hash: @facts_hash } IN @@agents OPTIONS { mergeObjects: false }
  RETURN NEW._key
""")


class AgentMethods:
    """The agent half of `Store`."""

    _aql: QueryRunner

    def _find(self, key: str) -> AgentRecord | None:
        found = self._aql.first(FIND, document_key=document_key(key), key=key)
        return record(AgentRecord, found) if found is not None else None

    def _require(self, key: str) -> AgentRecord:
        agent = self._find(key)
        if agent is None:
            raise AgentNotFound(key)
        return agent

    def upsert_pending(self, public_key: str, hostname: str, facts: dict[str, Any]) -> AgentRecord:
        document = self._aql.first(
            UPSERT_PENDING, retry_conflicts=True, document_key=document_key(public_key), public_key=public_key,
            hostname=hostname, pending=AgentStatus.PENDING.value, now=stored_time(utc_now()),
            facts=plain_json(facts), facts_hash=facts_digest(facts),
        )
        return record(AgentRecord, document)

    def approve(self, key: str, environment: str) -> AgentRecord:
        agent = self._require(key)
        if agent.status is not AgentStatus.REVOKED:
            document = self._aql.first(
                APPROVE, retry_conflicts=True, document_key=document_key(agent.public_key),
                revoked=AgentStatus.REVOKED.value, approved=AgentStatus.APPROVED.value, environment=environment,
                new_agent_id=str(uuid.uuid4()), now=stored_time(utc_now()),
            )
            if document is not None:
                return record(AgentRecord, document)
            agent = self._require(key)  # revoked (or removed) meanwhile: say which
        raise StoreError(
            f"agent {agent.key} ({agent.hostname}) was revoked and cannot be approved again; "
            "the machine must make a new key (remove its agent key file) and enrol anew"
        )

    def revoke(self, key: str) -> AgentRecord:
        agent = self._require(key)
        document = self._aql.first(
            REVOKE, retry_conflicts=True, document_key=document_key(agent.public_key),
            revoked=AgentStatus.REVOKED.value, now=stored_time(utc_now()),
        )
        if document is None:
            raise AgentNotFound(key)
        return record(AgentRecord, document)

    def get_agent(self, key: str) -> AgentRecord | None:
        return self._find(key)

    def agent_by_public_key(self, public_key: str) -> AgentRecord | None:
        found = self._aql.first(BY_PUBLIC_KEY, document_key=document_key(public_key))
        return record(AgentRecord, found) if found is not None else None

    def agents(self, status: AgentStatus | str | None = None, environment: str | None = None) -> list[AgentRecord]:
        wanted = AgentStatus(status).value if status is not None else None
        return [record(AgentRecord, found) for found in self._aql.rows(LIST, status=wanted, environment=environment)]

    def touch(self, key: str, time: datetime | None = None) -> None:
        updated = self._aql.first(
            TOUCH, retry_conflicts=True, document_key=document_key(key), key=key, time=stored_time(time or utc_now())
        )
        if updated is None:
            raise AgentNotFound(key)

    def put_facts(self, key: str, facts: dict[str, Any]) -> bool:
        digest = facts_digest(facts)
        for _ in range(RETRIES):
            agent = self._require(key)
            if agent.facts_hash == digest:
                return False
            written = self._aql.first(
                PUT_FACTS, retry_conflicts=True, document_key=document_key(agent.public_key),
                read_hash=agent.facts_hash, facts=plain_json(facts), facts_hash=digest,
            )
            if written is not None:
                return True
        raise StoreError(f"agent {key}: its facts kept changing under this write; try again")
